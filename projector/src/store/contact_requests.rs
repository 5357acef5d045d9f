//! Contact requests and their status changes.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use schemas::payloads::RequestStatus;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::contact_requests::{
    NewContactRequest, StatusChange, fold_status, own_request_id, status_name,
};

/// Stores submissions. A request belongs to the conversation of its first submission by the
/// server's clock (`received_at`, then `event_id`), which a client cannot set. Submissions
/// naming the same request id from the same conversation are one request, stored as the
/// earliest of them (the others are retries). Another conversation's submissions naming it
/// cannot take it over: they are a request of their own, under [`own_request_id`]. Whatever
/// order submissions are applied in, every request ends as its earliest submission under the
/// same id (an earlier submission arriving late moves the holder to its own id). Answers the
/// request ids it wrote, whose statuses must be folded again.
pub async fn insert_requests(
    conn: &mut PgConnection,
    rows: &[NewContactRequest],
) -> Result<BTreeSet<(String, String)>, sqlx::Error> {
    let mut written = BTreeSet::new();
    if rows.is_empty() {
        return Ok(written);
    }
    let (firsts, others) = requests_in_batch(rows);
    let inserted = insert_new(conn, &firsts).await?;
    written.extend(inserted.iter().cloned());
    let mut rest: Vec<NewContactRequest> = firsts
        .into_iter()
        .filter(|r| !inserted.contains(&(r.website_id.clone(), r.request_id.clone())))
        .chain(others)
        .collect();
    rest.sort_by_key(|r| (r.received_at, r.event_id));
    for row in rest {
        settle(conn, row, &mut written).await?;
    }
    Ok(written)
}

/// Stores one conversation's earliest submission of a batch naming a request id that is taken.
async fn settle(
    conn: &mut PgConnection,
    row: NewContactRequest,
    written: &mut BTreeSet<(String, String)>,
) -> Result<(), sqlx::Error> {
    let holder: Option<(String, DateTime<Utc>, Uuid)> = sqlx::query_as(
        "SELECT conversation_id, received_at, event_id FROM contact_requests
         WHERE website_id = $1 AND request_id = $2 FOR UPDATE",
    )
    .bind(&row.website_id)
    .bind(&row.request_id)
    .fetch_optional(&mut *conn)
    .await?;
    let earlier = |(received_at, event_id): (DateTime<Utc>, Uuid)| {
        (row.received_at, row.event_id) < (received_at, event_id)
    };
    let own = own_request_id(&row.website_id, &row.request_id, &row.conversation_id);
    match holder {
        Some((conversation, ..)) if conversation == row.conversation_id => {
            // Its own conversation's request: this one replaces it if it came first.
            written.insert((row.website_id.clone(), row.request_id.clone()));
            replace(conn, &row).await?;
        }
        Some((_, received_at, event_id)) if !earlier((received_at, event_id)) => {
            // Taken by an earlier submission from another conversation: a request of its own.
            let row = NewContactRequest {
                request_id: own,
                ..row
            };
            written.insert((row.website_id.clone(), row.request_id.clone()));
            keep_earliest(conn, &row).await?;
        }
        holder => {
            // Free, or held by a later submission from another conversation, which moves to
            // its own id; this conversation's own request, if it had one, comes back to the id
            // it named.
            if let Some((conversation, ..)) = holder {
                let moved = own_request_id(&row.website_id, &row.request_id, &conversation);
                rename(conn, &row.website_id, &row.request_id, &moved).await?;
                written.insert((row.website_id.clone(), moved));
            }
            rename(conn, &row.website_id, &own, &row.request_id).await?;
            // The id it left, if any: changes naming it wait again.
            written.insert((row.website_id.clone(), own));
            written.insert((row.website_id.clone(), row.request_id.clone()));
            keep_earliest(conn, &row).await?;
        }
    }
    Ok(())
}

/// Per request id, the earliest submission of the batch; then every other conversation's
/// earliest submission naming it. Retries (later ones from the same conversation) fold away,
/// so a statement touches each row once.
fn requests_in_batch(
    rows: &[NewContactRequest],
) -> (Vec<NewContactRequest>, Vec<NewContactRequest>) {
    let by_conversation = earliest_by(rows, |r| {
        (
            r.website_id.as_str(),
            r.request_id.as_str(),
            r.conversation_id.as_str(),
        )
    });
    let first = earliest_by(by_conversation.values().copied(), |r| {
        (r.website_id.as_str(), r.request_id.as_str())
    });
    let others = by_conversation
        .values()
        .filter(|row| {
            let owner = first[&(row.website_id.as_str(), row.request_id.as_str())];
            owner.conversation_id != row.conversation_id
        })
        .map(|row| (*row).clone())
        .collect();
    (first.into_values().cloned().collect(), others)
}

/// The earliest submission (`received_at`, then `event_id`) per key.
fn earliest_by<'a, K: Ord>(
    rows: impl IntoIterator<Item = &'a NewContactRequest>,
    key: impl Fn(&'a NewContactRequest) -> K,
) -> BTreeMap<K, &'a NewContactRequest> {
    let mut earliest: BTreeMap<K, &NewContactRequest> = BTreeMap::new();
    for row in rows {
        let kept = earliest.entry(key(row)).or_insert(row);
        if (row.received_at, row.event_id) < (kept.received_at, kept.event_id) {
            *kept = row;
        }
    }
    earliest
}

/// Stores `row` under its request id, or replaces what is stored there when `row` came first.
async fn keep_earliest(
    conn: &mut PgConnection,
    row: &NewContactRequest,
) -> Result<(), sqlx::Error> {
    if insert_new(conn, std::slice::from_ref(row))
        .await?
        .is_empty()
    {
        replace(conn, row).await?;
    }
    Ok(())
}

/// Moves a stored request to another id. Its status is folded again from the changes naming
/// the new id, so it starts as a request with none.
async fn rename(
    conn: &mut PgConnection,
    website_id: &str,
    from: &str,
    to: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE contact_requests SET request_id = $3, status = 'pending', notes = NULL,
                contacted_at = NULL, resolved_at = NULL
         WHERE website_id = $1 AND request_id = $2",
    )
    .bind(website_id)
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts the rows whose request ids are free; answers the `(website_id, request_id)` of
/// those inserted.
async fn insert_new(
    conn: &mut PgConnection,
    rows: &[NewContactRequest],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let texts = |f: fn(&NewContactRequest) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let inserted: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO contact_requests (website_id, request_id, conversation_id, name, email, phone,
                message, chat_context, ip_address, user_agent, created_at, received_at, event_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::jsonb[], $9::text[], $10::text[], $11::timestamptz[],
                              $12::timestamptz[], $13::uuid[])
         ON CONFLICT (website_id, request_id) DO NOTHING
         RETURNING website_id, request_id",
    )
    .bind(texts(|r| Some(r.website_id.as_str())))
    .bind(texts(|r| Some(r.request_id.as_str())))
    .bind(texts(|r| Some(r.conversation_id.as_str())))
    .bind(texts(|r| r.name.as_deref()))
    .bind(texts(|r| r.email.as_deref()))
    .bind(texts(|r| r.phone.as_deref()))
    .bind(texts(|r| r.message.as_deref()))
    .bind(rows.iter().map(|r| r.chat_context.clone()).collect::<Vec<_>>())
    .bind(texts(|r| r.ip.as_deref()))
    .bind(texts(|r| r.user_agent.as_deref()))
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// Replaces a request's submission with `row` if `row` is earlier (a retry that arrived late).
async fn replace(conn: &mut PgConnection, row: &NewContactRequest) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE contact_requests SET name = $3, email = $4, phone = $5, message = $6,
                chat_context = $7, ip_address = $8, user_agent = $9, created_at = $10,
                received_at = $11, event_id = $12
         WHERE website_id = $1 AND request_id = $2 AND (received_at, event_id) > ($11, $12)",
    )
    .bind(&row.website_id)
    .bind(&row.request_id)
    .bind(&row.name)
    .bind(&row.email)
    .bind(&row.phone)
    .bind(&row.message)
    .bind(&row.chat_context)
    .bind(&row.ip)
    .bind(&row.user_agent)
    .bind(row.created_at)
    .bind(row.received_at)
    .bind(row.event_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn insert_changes(
    conn: &mut PgConnection,
    changes: &[StatusChange],
) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO contact_request_changes (event_id, website_id, request_id, status, expected_status, notes, occurred_at, actor)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(changes.iter().map(|c| c.event_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.website_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.request_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| status_name(c.status)).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| status_name(c.expected_status)).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.notes.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.occurred_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.actor.as_deref()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

type ChangeRow = (Uuid, String, String, Option<String>, DateTime<Utc>);

/// Recomputes the status of each `(website_id, request_id)` from all of its logged changes.
/// A request without changes is pending as inserted, so only requests with changes are
/// re-folded; admin actions are rare, so those go request by request.
pub async fn refold(
    conn: &mut PgConnection,
    touched: BTreeSet<(String, String)>,
) -> Result<(), sqlx::Error> {
    if touched.is_empty() {
        return Ok(());
    }
    let (websites, requests): (Vec<&str>, Vec<&str>) = touched
        .iter()
        .map(|(w, r)| (w.as_str(), r.as_str()))
        .unzip();
    let with_changes: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT c.website_id, c.request_id FROM contact_request_changes c
         JOIN UNNEST($1::text[], $2::text[]) AS t(website_id, request_id)
           USING (website_id, request_id)
         ORDER BY 1, 2",
    )
    .bind(&websites)
    .bind(&requests)
    .fetch_all(&mut *conn)
    .await?;
    for (website_id, request_id) in with_changes {
        let exists: Option<(i32,)> = sqlx::query_as(
            "SELECT 1 FROM contact_requests WHERE website_id = $1 AND request_id = $2 FOR UPDATE",
        )
        .bind(&website_id)
        .bind(&request_id)
        .fetch_optional(&mut *conn)
        .await?;
        if exists.is_none() {
            // The request has not arrived yet, or moved to another id since (a submission that
            // came first arrived late): its changes wait, outcome NULL, as in any order.
            sqlx::query(
                "UPDATE contact_request_changes SET outcome = NULL, reason = NULL
                 WHERE website_id = $1 AND request_id = $2 AND outcome IS NOT NULL",
            )
            .bind(&website_id)
            .bind(&request_id)
            .execute(&mut *conn)
            .await?;
            continue;
        }
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "SELECT event_id, status, expected_status, notes, occurred_at FROM contact_request_changes
             WHERE website_id = $1 AND request_id = $2",
        )
        .bind(&website_id)
        .bind(&request_id)
        .fetch_all(&mut *conn)
        .await?;
        let changes: Vec<StatusChange> = rows
            .into_iter()
            .filter_map(|(event_id, status, expected, notes, occurred_at)| {
                Some(StatusChange {
                    event_id,
                    website_id: website_id.clone(),
                    request_id: request_id.clone(),
                    status: parse_status(&status)?,
                    expected_status: parse_status(&expected)?,
                    notes,
                    occurred_at,
                    // The fold does not depend on who acted.
                    actor: None,
                })
            })
            .collect();
        let state = fold_status(&changes);
        sqlx::query(
            "UPDATE contact_requests SET status = $3, notes = $4, contacted_at = $5, resolved_at = $6
             WHERE website_id = $1 AND request_id = $2",
        )
        .bind(&website_id)
        .bind(&request_id)
        .bind(status_name(state.status))
        .bind(&state.notes)
        .bind(state.contacted_at)
        .bind(state.resolved_at)
        .execute(&mut *conn)
        .await?;
        if !state.outcomes.is_empty() {
            let ids: Vec<Uuid> = state.outcomes.iter().map(|(id, _)| *id).collect();
            let outcomes: Vec<&str> = state
                .outcomes
                .iter()
                .map(|(_, r)| if r.is_none() { "applied" } else { "rejected" })
                .collect();
            let reasons: Vec<Option<&str>> =
                state.outcomes.iter().map(|(_, r)| r.as_deref()).collect();
            sqlx::query(
                "UPDATE contact_request_changes AS c SET outcome = u.outcome, reason = u.reason
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS u(event_id, outcome, reason)
                 WHERE c.event_id = u.event_id",
            )
            .bind(&ids)
            .bind(&outcomes)
            .bind(&reasons)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

fn parse_status(name: &str) -> Option<RequestStatus> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}
