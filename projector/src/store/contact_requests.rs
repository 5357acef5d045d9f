//! Contact requests and their status changes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use schemas::payloads::RequestStatus;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::contact_requests::{
    ContactRequestRow, StatusChange, fold_status, status_name,
};

pub async fn insert_requests(
    conn: &mut PgConnection,
    rows: &[ContactRequestRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // One row per request in the statement (an upsert may touch a row once): the earliest.
    let mut earliest: BTreeMap<(&str, &str), &ContactRequestRow> = BTreeMap::new();
    for row in rows {
        let kept = earliest
            .entry((row.website_id.as_str(), row.request_id.as_str()))
            .or_insert(row);
        if (row.created_at, row.event_id) < (kept.created_at, kept.event_id) {
            *kept = row;
        }
    }
    let rows: Vec<&ContactRequestRow> = earliest.into_values().collect();
    let texts =
        |f: fn(&ContactRequestRow) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO contact_requests (website_id, request_id, conversation_id, name, email, phone,
                message, chat_context, ip_address, user_agent, created_at, event_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::jsonb[], $9::text[], $10::text[], $11::timestamptz[], $12::uuid[])
         -- Two submissions with one client-chosen request id: the earliest wins, in any order.
         ON CONFLICT (website_id, request_id) DO UPDATE SET
            conversation_id = EXCLUDED.conversation_id, name = EXCLUDED.name, email = EXCLUDED.email,
            phone = EXCLUDED.phone, message = EXCLUDED.message, chat_context = EXCLUDED.chat_context,
            ip_address = EXCLUDED.ip_address, user_agent = EXCLUDED.user_agent,
            created_at = EXCLUDED.created_at, event_id = EXCLUDED.event_id
         WHERE (EXCLUDED.created_at, EXCLUDED.event_id) < (contact_requests.created_at, contact_requests.event_id)",
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
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .execute(conn)
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
            // The request has not arrived yet; its changes wait, outcome NULL.
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
