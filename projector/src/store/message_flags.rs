//! Flags on messages, reconciled in both directions: a flag marks its message if it is there,
//! and a new message takes the flags that were waiting for it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::message_flags::MessageFlag;

/// When a message was first flagged for a human, and first replied to by one.
type FlagTimes = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The conversation of a message: `(website, conversation)`.
type ConversationKey = (String, String);

/// Records `flags` and marks the messages (and their conversations) they refer to; answers the
/// conversations of the messages found.
pub async fn apply(
    conn: &mut PgConnection,
    flags: &[MessageFlag],
) -> Result<Vec<ConversationKey>, sqlx::Error> {
    if flags.is_empty() {
        return Ok(Vec::new());
    }
    // One row per message in the statement; the earliest time of each kind wins.
    let mut merged: BTreeMap<(&str, &str), FlagTimes> = BTreeMap::new();
    for f in flags {
        let entry = merged
            .entry((f.website_id.as_str(), f.message_ref.as_str()))
            .or_default();
        entry.0 = earliest(entry.0, f.flagged_at);
        entry.1 = earliest(entry.1, f.replied_at);
    }
    let websites: Vec<&str> = merged.keys().map(|k| k.0).collect();
    let refs: Vec<&str> = merged.keys().map(|k| k.1).collect();
    sqlx::query(
        "INSERT INTO message_flags AS f (website_id, message_ref, flagged_at, replied_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
         ON CONFLICT (website_id, message_ref) DO UPDATE SET
            flagged_at = LEAST(f.flagged_at, EXCLUDED.flagged_at),
            replied_at = LEAST(f.replied_at, EXCLUDED.replied_at)",
    )
    .bind(&websites)
    .bind(&refs)
    .bind(merged.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(merged.values().map(|v| v.1).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let marked: Vec<(Uuid, String, String)> = sqlx::query_as(
        "UPDATE messages m SET requires_human = m.requires_human OR f.flagged_at IS NOT NULL,
                               human_replied = m.human_replied OR f.replied_at IS NOT NULL
         FROM message_flags f
         JOIN UNNEST($1::text[], $2::text[]) AS k(website_id, message_ref)
           ON f.website_id = k.website_id AND f.message_ref = k.message_ref
         WHERE m.website_id = f.website_id
           -- A reference is a message_id or an event id as text; named as a uuid, the
           -- latter finds the message through the primary key instead of every message of
           -- the website (the pattern is what `event_id::text` gives).
           AND (m.message_id = f.message_ref
                OR m.event_id = CASE WHEN f.message_ref
                                     ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                THEN f.message_ref::uuid END)
         RETURNING m.event_id, m.website_id, m.conversation_id",
    )
    .bind(&websites)
    .bind(&refs)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = marked.iter().map(|m| m.0).collect();
    escalate_conversations(conn, &ids).await?;
    Ok(marked.into_iter().map(|(_, w, c)| (w, c)).collect())
}

/// Gives messages inserted in this batch the flags that arrived before them.
pub async fn catch_up(conn: &mut PgConnection, new_messages: &[Uuid]) -> Result<(), sqlx::Error> {
    if new_messages.is_empty() {
        return Ok(());
    }
    let marked: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE messages m SET requires_human = m.requires_human OR f.flagged_at IS NOT NULL,
                               human_replied = m.human_replied OR f.replied_at IS NOT NULL
         FROM message_flags f
         WHERE m.event_id = ANY($1)
           AND f.website_id = m.website_id
           AND (f.message_ref = m.message_id OR f.message_ref = m.event_id::text)
         RETURNING m.event_id",
    )
    .bind(new_messages)
    .fetch_all(&mut *conn)
    .await?;
    escalate_conversations(conn, &marked).await
}

/// A conversation requires a human once any of its messages does.
async fn escalate_conversations(
    conn: &mut PgConnection,
    messages: &[Uuid],
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE conversations c SET requires_human = true
         FROM messages m
         WHERE m.event_id = ANY($1) AND m.requires_human
           AND c.website_id = m.website_id AND c.conversation_id = m.conversation_id
           AND NOT c.requires_human",
    )
    .bind(messages)
    .execute(conn)
    .await?;
    Ok(())
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
