//! Contacts: identities, the contacts they form, the links from conversations and requests,
//! and erasure. Runs last in a batch, after every other read model has its rows, so that the
//! links and the erasure reach rows the same batch wrote.
//!
//! Over 500 lines: its steps (identities, links, merges, erasure) run in this order on the same
//! SQL fragments (`KEYS`, `RELINK`, …), which a split would have to share across files.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::contacts::{ContactChanges, Identity, Kind, assign};

/// (website, contact id) pairs.
type Contacts = BTreeSet<(String, String)>;

/// Applies a batch's contact events. `conversations` are the (website, conversation) pairs of
/// every new event in the batch, and `requests` the (website, request) pairs it submitted or
/// changed: their contacts' activity may have moved, and if one of them belongs to an erased
/// person, what just arrived for it is erased too.
pub async fn apply(
    conn: &mut PgConnection,
    changes: &ContactChanges,
    conversations: &[(String, String)],
    requests: &BTreeSet<(String, String)>,
    derive: bool,
) -> Result<(), sqlx::Error> {
    insert_observations(conn, changes).await?;
    insert_edits(conn, changes).await?;
    let (mut affected, moved) = regroup(conn, changes).await?;
    if !derive {
        // A rebuild's bulk phase: `derive_all` does the rest once, at the end.
        return Ok(());
    }
    let pairs = |set: &mut dyn Iterator<Item = &(String, String)>| -> (Vec<String>, Vec<String>) {
        set.map(|(w, x)| (w.clone(), x.clone())).unzip()
    };
    let (websites, conversations) = pairs(&mut conversations.iter());
    let (request_websites, requests) = pairs(&mut requests.iter());
    // The contacts of the touched conversations and requests, through any of their
    // conversations' submissions.
    let linked: Vec<(String, String)> = sqlx::query_as(
        "WITH touched AS (
            SELECT * FROM UNNEST($1::text[], $2::text[]) AS t(website_id, conversation_id)
            UNION
            SELECT r.website_id, r.conversation_id
            FROM UNNEST($3::text[], $4::text[]) AS t(website_id, request_id)
            JOIN contact_requests r USING (website_id, request_id))
         SELECT DISTINCT i.website_id, i.contact_id
         FROM touched
         JOIN contact_observations o USING (website_id, conversation_id)
         JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key",
    )
    .bind(&websites)
    .bind(&conversations)
    .bind(&request_websites)
    .bind(&requests)
    .fetch_all(&mut *conn)
    .await?;
    affected.extend(linked);
    if affected.is_empty() {
        return Ok(());
    }
    let (websites, ids): (Vec<&str>, Vec<&str>) = affected
        .iter()
        .map(|(w, c)| (w.as_str(), c.as_str()))
        .unzip();
    let new: Vec<Uuid> = changes.observations.iter().map(|o| o.event_id).collect();
    link(conn, &new, &moved).await?;
    // Others who left details in an erased person's conversations lose what they left there.
    let others = erase(conn, &websites, &ids).await?;
    affected.extend(others);
    let (websites, ids): (Vec<&str>, Vec<&str>) = affected
        .iter()
        .map(|(w, c)| (w.as_str(), c.as_str()))
        .unzip();
    rebuild(conn, &websites, &ids).await
}

/// What [`apply`] derives for the contacts a batch touches, for every contact at once: links,
/// erasure and contact rows. Each is a function of the stored identities, submissions and
/// edits, so doing it once at the end gives what doing it batch by batch would have.
pub async fn derive_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH firsts AS (
            SELECT DISTINCT ON (o.website_id, o.conversation_id)
                   o.website_id, o.conversation_id, i.contact_id
            FROM contact_observations o
            JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key
            WHERE o.request_id IS NOT NULL
            ORDER BY o.website_id, o.conversation_id, o.occurred_at, o.event_id)
         UPDATE conversations c SET contact_id = f.contact_id
         FROM firsts f
         WHERE c.website_id = f.website_id AND c.conversation_id = f.conversation_id
           AND c.contact_id IS DISTINCT FROM f.contact_id",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE contact_requests r SET contact_id = i.contact_id
         FROM contact_observations o
         JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key
         WHERE r.website_id = o.website_id AND r.event_id = o.event_id
           AND r.conversation_id = o.conversation_id
           AND r.contact_id IS DISTINCT FROM i.contact_id",
    )
    .execute(&mut *conn)
    .await?;
    let all: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT website_id, contact_id, bool_or(erased_at IS NOT NULL)
         FROM contact_identities GROUP BY website_id, contact_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let (websites, ids): (Vec<&str>, Vec<&str>) = all
        .iter()
        .filter(|(_, _, erased)| *erased)
        .map(|(w, c, _)| (w.as_str(), c.as_str()))
        .unzip();
    if !ids.is_empty() {
        erase(conn, &websites, &ids).await?;
    }
    rebuild_all(conn).await
}

async fn insert_observations(
    conn: &mut PgConnection,
    changes: &ContactChanges,
) -> Result<(), sqlx::Error> {
    let rows = &changes.observations;
    if rows.is_empty() {
        return Ok(());
    }
    let texts = |f: fn(&_) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO contact_observations (event_id, website_id, conversation_id, request_id, key,
                name, email, phone, channel, occurred_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[])
         ON CONFLICT (event_id, website_id, conversation_id) DO NOTHING",
    )
    .bind(rows.iter().map(|o| o.event_id).collect::<Vec<_>>())
    .bind(texts(|o| Some(o.website_id.as_str())))
    .bind(texts(|o| Some(o.conversation_id.as_str())))
    .bind(texts(|o| o.request_id.as_deref()))
    .bind(texts(|o| Some(o.key())))
    .bind(texts(|o| o.name.as_deref()))
    .bind(texts(|o| o.email.as_deref()))
    .bind(texts(|o| o.phone.as_deref()))
    .bind(texts(|o| Some(o.channel.as_str())))
    .bind(rows.iter().map(|o| o.occurred_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_edits(
    conn: &mut PgConnection,
    changes: &ContactChanges,
) -> Result<(), sqlx::Error> {
    let rows = &changes.edits;
    if rows.is_empty() {
        return Ok(());
    }
    let texts = |f: fn(&_) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO contact_edits (event_id, website_id, key, name, email, phone, notes,
                lead_status, occurred_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::timestamptz[])
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(rows.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(texts(|e| Some(e.website_id.as_str())))
    .bind(texts(|e| Some(e.key.as_str())))
    .bind(texts(|e| e.name.as_deref()))
    .bind(texts(|e| e.email.as_deref()))
    .bind(texts(|e| e.phone.as_deref()))
    .bind(texts(|e| e.notes.as_deref()))
    .bind(texts(|e| e.lead_status))
    .bind(rows.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

type IdentityRow = (
    String,
    String,
    i16,
    String,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    bool,
    bool,
    Option<DateTime<Utc>>,
);

/// Stores what the batch says about each key, then regroups the keys of every contact it
/// touches. Returns those contacts, before and after (their rows must be rebuilt), and the keys
/// that moved to another contact (their submissions must be linked again).
async fn regroup(
    conn: &mut PgConnection,
    changes: &ContactChanges,
) -> Result<(Contacts, Vec<(String, String)>), sqlx::Error> {
    let ids = &changes.identities;
    if ids.is_empty() {
        return Ok((Contacts::new(), Vec::new()));
    }
    let texts = |f: fn(&Identity) -> &str| ids.iter().map(f).collect::<Vec<_>>();
    let websites = texts(|i| &i.website_id);
    let keys = texts(|i| &i.key);
    sqlx::query(
        "INSERT INTO contact_identities AS i (website_id, key, kind, contact_id, first_seen_at,
                first_event, merged_away, survivor, erased_at)
         SELECT w, k, kind, k, seen, first_event, merged_away, survivor, erased_at
         FROM UNNEST($1::text[], $2::text[], $3::smallint[], $4::timestamptz[], $5::uuid[],
                     $6::boolean[], $7::boolean[], $8::timestamptz[])
              AS u(w, k, kind, seen, first_event, merged_away, survivor, erased_at)
         ON CONFLICT (website_id, key) DO UPDATE SET
            kind = LEAST(i.kind, EXCLUDED.kind),
            first_seen_at = CASE WHEN EXCLUDED.first_seen_at IS NOT NULL AND (i.first_seen_at IS NULL
                    OR (EXCLUDED.first_seen_at, EXCLUDED.first_event) < (i.first_seen_at, i.first_event))
                THEN EXCLUDED.first_seen_at ELSE i.first_seen_at END,
            first_event = CASE WHEN EXCLUDED.first_seen_at IS NOT NULL AND (i.first_seen_at IS NULL
                    OR (EXCLUDED.first_seen_at, EXCLUDED.first_event) < (i.first_seen_at, i.first_event))
                THEN EXCLUDED.first_event ELSE i.first_event END,
            merged_away = i.merged_away OR EXCLUDED.merged_away,
            survivor = i.survivor OR EXCLUDED.survivor,
            erased_at = GREATEST(i.erased_at, EXCLUDED.erased_at)",
    )
    .bind(&websites)
    .bind(&keys)
    .bind(ids.iter().map(|i| i.kind as i16).collect::<Vec<_>>())
    .bind(ids.iter().map(|i| i.first_seen.map(|s| s.0)).collect::<Vec<_>>())
    .bind(ids.iter().map(|i| i.first_seen.map(|s| s.1)).collect::<Vec<_>>())
    .bind(ids.iter().map(|i| i.merged_away).collect::<Vec<_>>())
    .bind(ids.iter().map(|i| i.survivor).collect::<Vec<_>>())
    .bind(ids.iter().map(|i| i.erased_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;

    // Every key of every contact the batch mentions, with the contact it is in now.
    let rows: Vec<IdentityRow> = sqlx::query_as(
        "WITH contacts AS (
            SELECT DISTINCT i.website_id, i.contact_id
            FROM contact_identities i
            JOIN UNNEST($1::text[], $2::text[]) AS m(website_id, key) USING (website_id, key))
         SELECT i.website_id, i.key, i.kind, i.contact_id, i.first_seen_at, i.first_event,
                i.merged_away, i.survivor, i.erased_at
         FROM contact_identities i JOIN contacts USING (website_id, contact_id)",
    )
    .bind(&websites)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    let members: Vec<(Identity, String)> = rows
        .into_iter()
        .map(
            |(
                website_id,
                key,
                kind,
                contact,
                seen,
                first_event,
                merged_away,
                survivor,
                erased_at,
            )| {
                let identity = Identity {
                    website_id,
                    key,
                    kind: Kind::from_i16(kind),
                    first_seen: seen.zip(first_event),
                    merged_away,
                    survivor,
                    erased_at,
                };
                (identity, contact)
            },
        )
        .collect();
    let now = assign(&members, &changes.links);
    let mut affected = Contacts::new();
    // The identities that moved to another contact, as the UPDATE's columns.
    let (mut websites, mut keys, mut contacts) = (Vec::new(), Vec::new(), Vec::new());
    for (identity, before) in &members {
        let after = &now[&(identity.website_id.clone(), identity.key.clone())];
        affected.insert((identity.website_id.clone(), before.clone()));
        affected.insert((identity.website_id.clone(), after.clone()));
        if after != before {
            websites.push(identity.website_id.as_str());
            keys.push(identity.key.as_str());
            contacts.push(after.as_str());
        }
    }
    if !websites.is_empty() {
        sqlx::query(
            "UPDATE contact_identities i SET contact_id = u.contact_id
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(website_id, key, contact_id)
             WHERE i.website_id = u.website_id AND i.key = u.key",
        )
        .bind(&websites)
        .bind(&keys)
        .bind(&contacts)
        .execute(&mut *conn)
        .await?;
    }
    let moved_keys = websites
        .iter()
        .zip(&keys)
        .map(|(w, k)| ((*w).to_owned(), (*k).to_owned()))
        .collect();
    Ok((affected, moved_keys))
}

/// The submissions whose links may have changed: the batch's own, and those filed under a key
/// that moved to another contact.
const RELINK: &str = "relink AS (
            SELECT o.* FROM contact_observations o WHERE o.event_id = ANY($1)
            UNION
            SELECT o.* FROM UNNEST($2::text[], $3::text[]) AS m(website_id, key)
            JOIN contact_observations o USING (website_id, key))";

/// Points conversations (at the contact of their earliest form: an identification does not make
/// a conversation a contact conversation, docs/statistics.md) and requests (at the contact of
/// theirs) to where their submissions now belong.
async fn link(
    conn: &mut PgConnection,
    new: &[Uuid],
    moved: &[(String, String)],
) -> Result<(), sqlx::Error> {
    if new.is_empty() && moved.is_empty() {
        return Ok(());
    }
    let (websites, keys): (Vec<&str>, Vec<&str>) =
        moved.iter().map(|(w, k)| (w.as_str(), k.as_str())).unzip();
    sqlx::query(&format!(
        "WITH {RELINK},
         conversations_of AS (SELECT DISTINCT website_id, conversation_id FROM relink),
         firsts AS (
            SELECT DISTINCT ON (o.website_id, o.conversation_id)
                   o.website_id, o.conversation_id, i.contact_id
            FROM conversations_of
            JOIN contact_observations o USING (website_id, conversation_id)
            JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key
            WHERE o.request_id IS NOT NULL
            ORDER BY o.website_id, o.conversation_id, o.occurred_at, o.event_id)
         UPDATE conversations c SET contact_id = f.contact_id
         FROM firsts f
         WHERE c.website_id = f.website_id AND c.conversation_id = f.conversation_id
           AND c.contact_id IS DISTINCT FROM f.contact_id"
    ))
    .bind(new)
    .bind(&websites)
    .bind(&keys)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "WITH {RELINK}
         UPDATE contact_requests r SET contact_id = i.contact_id
         FROM relink o
         JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key
         WHERE r.website_id = o.website_id AND r.event_id = o.event_id
           AND r.conversation_id = o.conversation_id
           AND r.contact_id IS DISTINCT FROM i.contact_id"
    ))
    .bind(new)
    .bind(&websites)
    .bind(&keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the personal data of every erased contact among `ids`: from its submissions and
/// edits, and from every conversation a submission of it came from — their requests, messages,
/// origin, raw events and whatever anyone submitted there. Counts stay: rows lose their
/// contents, not their existence. Returns the contacts with submissions in those
/// conversations, whose rows the caller must build again.
async fn erase(
    conn: &mut PgConnection,
    websites: &[&str],
    ids: &[&str],
) -> Result<Contacts, sqlx::Error> {
    let erased: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT i.website_id, i.contact_id
         FROM UNNEST($1::text[], $2::text[]) AS a(website_id, contact_id)
         JOIN contact_identities i USING (website_id, contact_id)
         WHERE i.erased_at IS NOT NULL",
    )
    .bind(websites)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    if erased.is_empty() {
        return Ok(Contacts::new());
    }
    let (websites, ids): (Vec<&str>, Vec<&str>) =
        erased.iter().map(|(w, c)| (w.as_str(), c.as_str())).unzip();
    // Each statement starts from the erased contacts' keys; the scope only ever grows as keys
    // are linked, so erasing again whenever a contact is touched converges.
    const KEYS: &str = "WITH keys AS (
            SELECT i.website_id, i.key
            FROM UNNEST($1::text[], $2::text[]) AS a(website_id, contact_id)
            JOIN contact_identities i USING (website_id, contact_id)),
         scope AS (
            SELECT DISTINCT o.website_id, o.conversation_id
            FROM keys JOIN contact_observations o USING (website_id, key))";
    let statements = [
        "UPDATE contact_observations o SET name = NULL, email = NULL, phone = NULL
         FROM keys k WHERE o.website_id = k.website_id AND o.key = k.key
           AND (o.name IS NOT NULL OR o.email IS NOT NULL OR o.phone IS NOT NULL)",
        "UPDATE contact_edits e SET name = NULL, email = NULL, phone = NULL, notes = NULL
         FROM keys k WHERE e.website_id = k.website_id AND e.key = k.key
           AND (e.name IS NOT NULL OR e.email IS NOT NULL OR e.phone IS NOT NULL
                OR e.notes IS NOT NULL)",
        "UPDATE event_log l
         SET payload = l.payload - '{name,email,phone,notes}'::text[]
         FROM keys k WHERE l.website_id = k.website_id AND l.type = 'contact.updated'
           AND l.payload->>'contact_id' = k.key
           AND l.payload ?| '{name,email,phone,notes}'::text[]",
        // The keys sealing the admin edits about the person, in the topic.
        "DELETE FROM colloquy.subject_keys sk
         USING keys k WHERE sk.website_id = k.website_id AND sk.subject = 'contact:' || k.key",
    ];
    for statement in statements.iter().chain(CONVERSATION_SCRUBS) {
        sqlx::query(&format!("{KEYS} {statement}"))
            .bind(&websites)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
    }
    let observed: Vec<(String, String)> = sqlx::query_as(&format!("{KEYS} {OBSERVED_IN_SCOPE}"))
        .bind(&websites)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(observed.into_iter().collect())
}

/// The contacts with a submission in the conversations of a `scope` CTE the caller puts first.
const OBSERVED_IN_SCOPE: &str = "SELECT DISTINCT i.website_id, i.contact_id
     FROM scope s
     JOIN contact_observations o USING (website_id, conversation_id)
     JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key";

/// After [`CONVERSATION_SCRUBS`] ran over `scope` (a query of `(website_id, conversation_id)`
/// taking `binds` as `$1` and `$2`, if given) outside contact erasure: builds again the rows of
/// the contacts that submitted something there, which may have lost a name or an address.
pub(crate) async fn rebuild_observed_in(
    conn: &mut PgConnection,
    scope: &str,
    binds: Option<(&[&str], &[&str])>,
) -> Result<(), sqlx::Error> {
    let sql = format!("WITH scope AS MATERIALIZED ({scope}) {OBSERVED_IN_SCOPE}");
    let query = sqlx::query_as::<_, (String, String)>(&sql);
    let query = match binds {
        Some((a, b)) => query.bind(a).bind(b),
        None => query,
    };
    let observed = query.fetch_all(&mut *conn).await?;
    if observed.is_empty() {
        return Ok(());
    }
    let (websites, ids): (Vec<&str>, Vec<&str>) = observed
        .iter()
        .map(|(w, c)| (w.as_str(), c.as_str()))
        .unzip();
    rebuild(conn, &websites, &ids).await
}

/// What erasing a conversation clears, for every `(website_id, conversation_id)` in a `scope`
/// CTE the caller puts first: its messages' text; its IP, user agent, customer id and rating
/// comment; its CTA clicks' customer id; its requests' contents and their changes' notes; the
/// name, address and phone anyone submitted in it; its events' personal fields in
/// `event_log`; the keys its events are sealed with in the topic. Rows stay, so counts stay.
///
/// Whatever is sealed under the conversation's key goes, whoever it was about: a replay can
/// no longer read it, so the live read models must not keep it either.
pub(crate) const CONVERSATION_SCRUBS: &[&str] = &[
        // The language detected in a text goes with it: a replay, which cannot read the text,
        // detects none.
        "UPDATE messages m SET text = NULL, detected_language = NULL
         FROM scope s WHERE m.website_id = s.website_id AND m.conversation_id = s.conversation_id
           AND (m.text IS NOT NULL OR m.detected_language IS NOT NULL)",
        "UPDATE conversations c SET ip_address = NULL, user_agent = NULL, rating_comment = NULL,
                customer_id = NULL, detected_language = NULL
         FROM scope s WHERE c.website_id = s.website_id AND c.conversation_id = s.conversation_id
           AND (c.ip_address IS NOT NULL OR c.user_agent IS NOT NULL
                OR c.rating_comment IS NOT NULL OR c.customer_id IS NOT NULL
                OR c.detected_language IS NOT NULL)",
        "UPDATE cta_clicks k SET customer_id = NULL
         FROM scope s WHERE k.website_id = s.website_id AND k.conversation_id = s.conversation_id
           AND k.customer_id IS NOT NULL",
        "UPDATE contact_request_changes ch SET notes = NULL
         FROM scope s JOIN contact_requests r USING (website_id, conversation_id)
         WHERE ch.website_id = r.website_id AND ch.request_id = r.request_id
           AND ch.notes IS NOT NULL",
        "UPDATE contact_observations o SET name = NULL, email = NULL, phone = NULL
         FROM scope s WHERE o.website_id = s.website_id AND o.conversation_id = s.conversation_id
           AND (o.name IS NOT NULL OR o.email IS NOT NULL OR o.phone IS NOT NULL)",
        "UPDATE contact_requests r SET name = NULL, email = NULL, phone = NULL, message = NULL,
                chat_context = '[]', ip_address = NULL, user_agent = NULL, notes = NULL
         FROM scope s WHERE r.website_id = s.website_id AND r.conversation_id = s.conversation_id
           AND (r.name IS NOT NULL OR r.email IS NOT NULL OR r.phone IS NOT NULL
                OR r.message IS NOT NULL OR r.chat_context <> '[]' OR r.ip_address IS NOT NULL
                OR r.user_agent IS NOT NULL OR r.notes IS NOT NULL)",
        // The raw event log: the conversations' events, and the admin edits that named the
        // person's keys.
        "UPDATE event_log l
         SET payload = l.payload - '{name,email,phone,message,text,chat_context,comment,notes,customer_id}'::text[],
             context = l.context - '{ip,user_agent,visitor}'::text[]
         FROM scope s WHERE l.website_id = s.website_id AND l.conversation_id = s.conversation_id
           AND (l.payload ?| '{name,email,phone,message,text,chat_context,comment,notes,customer_id}'::text[]
                OR l.context ?| '{ip,user_agent,visitor}'::text[])",
        // The keys sealing the conversations' personal fields in the topic: from now on no
        // reader and no replay can open them (crypto-shredding). Whatever arrives later for
        // the conversation is erased again, with the key it brings.
        "DELETE FROM colloquy.subject_keys k
         USING scope s WHERE k.website_id = s.website_id AND k.subject = s.conversation_id",
];

/// Rebuilds the `contacts` rows of `ids` from their keys' submissions, edits and conversations.
/// An id that no longer names a contact (it was merged into another) loses its row.
async fn rebuild(
    conn: &mut PgConnection,
    websites: &[&str],
    ids: &[&str],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM contacts c USING UNNEST($1::text[], $2::text[]) AS a(website_id, contact_id)
         WHERE c.website_id = a.website_id AND c.contact_id = a.contact_id",
    )
    .bind(websites)
    .bind(ids)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "WITH affected AS (
            SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[]) AS a(website_id, contact_id)),
         members AS (
            SELECT i.website_id, i.key, i.contact_id, i.erased_at
            FROM contact_identities i JOIN affected USING (website_id, contact_id)),
         activity AS (
            SELECT c.website_id, c.contact_id, c.first_seen_at, c.last_activity_at
            FROM conversations c JOIN affected USING (website_id, contact_id)),
         {CONTACT_ROWS}"
    ))
    .bind(websites)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every contact row, from scratch.
async fn rebuild_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM contacts")
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "WITH members AS (SELECT website_id, key, contact_id, erased_at FROM contact_identities),
         activity AS (
            SELECT website_id, contact_id, first_seen_at, last_activity_at
            FROM conversations WHERE contact_id IS NOT NULL),
         {CONTACT_ROWS}"
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// The contact rows of the contacts whose keys are in `members` (website_id, key, contact_id,
/// erased_at), from their keys' submissions and edits and from `activity` (website_id,
/// contact_id, first_seen_at, last_activity_at: their conversations). Both come first in the
/// `WITH`.
///
/// One aggregation over everything known about each contact, with no joins between
/// aggregates: the planner cannot estimate the size of a grouped CTE, and joining two of them
/// once chose a nested loop that re-aggregated every conversation per contact (30 s instead of
/// 0.5 s for 5,000 contacts). A contact has a row once it has a submission.
const CONTACT_ROWS: &str = "facts AS (
            SELECT m.website_id, m.contact_id, 's' AS source, o.name, o.email, o.phone,
                   NULL::text AS notes, NULL::text AS lead_status, o.channel, o.occurred_at,
                   o.event_id, o.conversation_id, o.request_id,
                   NULL::timestamptz AS active_from, NULL::timestamptz AS active_to,
                   NULL::timestamptz AS erased_at
            FROM members m JOIN contact_observations o USING (website_id, key)
            UNION ALL
            SELECT m.website_id, m.contact_id, 'e', e.name, e.email, e.phone, e.notes,
                   e.lead_status, NULL, e.occurred_at, e.event_id, NULL, NULL, NULL, NULL, NULL
            FROM members m JOIN contact_edits e USING (website_id, key)
            UNION ALL
            SELECT website_id, contact_id, 'a', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, first_seen_at, last_activity_at, NULL
            FROM activity
            UNION ALL
            SELECT website_id, contact_id, 'm', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL, NULL, erased_at
            FROM members),
         folded AS (
            SELECT website_id, contact_id,
                (array_agg(name ORDER BY occurred_at DESC, event_id DESC, conversation_id DESC) FILTER (WHERE name IS NOT NULL))[1] AS name,
                (array_agg(email ORDER BY occurred_at DESC, event_id DESC, conversation_id DESC) FILTER (WHERE email IS NOT NULL))[1] AS email,
                (array_agg(phone ORDER BY occurred_at DESC, event_id DESC, conversation_id DESC) FILTER (WHERE phone IS NOT NULL))[1] AS phone,
                (array_agg(notes ORDER BY occurred_at DESC, event_id DESC) FILTER (WHERE notes IS NOT NULL))[1] AS notes,
                (array_agg(lead_status ORDER BY occurred_at DESC, event_id DESC) FILTER (WHERE lead_status IS NOT NULL))[1] AS lead_status,
                (array_agg(channel ORDER BY occurred_at, event_id, conversation_id) FILTER (WHERE source = 's'))[1] AS channel,
                LEAST(min(occurred_at) FILTER (WHERE source = 's'), min(active_from)) AS first_seen_at,
                GREATEST(max(occurred_at) FILTER (WHERE source = 's'), max(active_to)) AS last_activity_at,
                count(DISTINCT conversation_id) AS conversation_count,
                count(DISTINCT request_id) AS request_count,
                max(erased_at) AS erased_at
            FROM facts GROUP BY website_id, contact_id
            HAVING bool_or(source = 's'))
         INSERT INTO contacts (website_id, contact_id, name, email, phone, channel, first_seen_at,
                last_activity_at, conversation_count, request_count, notes, lead_status, erased_at)
         SELECT website_id, contact_id, name, email, phone, channel, first_seen_at,
                last_activity_at, conversation_count, request_count, notes,
                -- Until an admin sets one: new, or active once the person came back.
                COALESCE(lead_status, CASE WHEN conversation_count > 1 THEN 'active' ELSE 'new' END),
                erased_at
         FROM folded";

#[cfg(test)]
mod tests {
    use super::CONVERSATION_SCRUBS;
    use schemas::sealing::{CONTEXT_FIELDS, PAYLOAD_FIELDS};

    /// What erasure removes from `event_log` is what ingest seals in the topic: a replay of
    /// erased events gives the same log as erasing the live one.
    #[test]
    fn the_event_log_scrub_removes_exactly_the_sealed_fields() {
        let log = CONVERSATION_SCRUBS
            .iter()
            .find(|s| s.contains("UPDATE event_log"))
            .expect("an event_log scrub");
        let payload = format!("payload - '{{{}}}'", PAYLOAD_FIELDS.join(","));
        // `visitor` is not sealed (unique visitors are counted by it) but goes with erasure.
        let context = format!("context - '{{{},visitor}}'", CONTEXT_FIELDS.join(","));
        assert!(log.contains(&payload), "{payload} not in {log}");
        assert!(log.contains(&context), "{context} not in {log}");
    }
}
