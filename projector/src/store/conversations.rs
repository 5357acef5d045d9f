//! Upserts conversation deltas. The merge rules mirror `ConversationDelta::merge`, so applying
//! deltas in any order gives the same row.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::projections::ConversationDelta;

pub async fn upsert(
    conn: &mut PgConnection,
    deltas: &[ConversationDelta],
) -> Result<(), sqlx::Error> {
    if deltas.is_empty() {
        return Ok(());
    }
    let times = |f: fn(&ConversationDelta) -> Option<DateTime<Utc>>| {
        deltas.iter().map(f).collect::<Vec<_>>()
    };
    let websites: Vec<&str> = deltas.iter().map(|d| d.website_id.as_str()).collect();
    let ids: Vec<&str> = deltas.iter().map(|d| d.conversation_id.as_str()).collect();
    let channels: Vec<&str> = deltas.iter().map(|d| d.channel.as_str()).collect();
    let statuses: Vec<&str> = deltas.iter().map(ConversationDelta::status).collect();
    let message_counts: Vec<i64> = deltas.iter().map(|d| d.message_count).collect();
    sqlx::query(
        "INSERT INTO conversations AS c (website_id, conversation_id, status, channel,
                widget_loaded_at, engaged_at, first_message_at, last_message_at, message_count,
                first_seen_at, last_activity_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                              $5::timestamptz[], $6::timestamptz[], $7::timestamptz[],
                              $8::timestamptz[], $9::bigint[], $10::timestamptz[], $11::timestamptz[])
         ON CONFLICT (website_id, conversation_id) DO UPDATE SET
            channel = CASE WHEN (EXCLUDED.first_seen_at, EXCLUDED.channel) < (c.first_seen_at, c.channel)
                           THEN EXCLUDED.channel ELSE c.channel END,
            widget_loaded_at = LEAST(c.widget_loaded_at, EXCLUDED.widget_loaded_at),
            engaged_at = LEAST(c.engaged_at, EXCLUDED.engaged_at),
            status = CASE WHEN LEAST(c.engaged_at, EXCLUDED.engaged_at) IS NULL
                          THEN 'loaded' ELSE 'active' END,
            first_message_at = LEAST(c.first_message_at, EXCLUDED.first_message_at),
            last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at),
            message_count = c.message_count + EXCLUDED.message_count,
            first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
            last_activity_at = GREATEST(c.last_activity_at, EXCLUDED.last_activity_at)",
    )
    .bind(&websites)
    .bind(&ids)
    .bind(&statuses)
    .bind(&channels)
    .bind(times(|d| d.widget_loaded_at))
    .bind(times(|d| d.engaged_at))
    .bind(times(|d| d.first_message_at))
    .bind(times(|d| d.last_message_at))
    .bind(&message_counts)
    .bind(times(|d| Some(d.first_seen_at)))
    .bind(times(|d| Some(d.last_activity_at)))
    .execute(conn)
    .await?;
    Ok(())
}
