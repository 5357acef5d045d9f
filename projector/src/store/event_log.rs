//! The event log: every applied event once. Inserting into it is how the projector tells new
//! events from re-deliveries.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Applied;

/// Inserts the events not logged yet and returns their ids.
pub async fn insert_new(
    conn: &mut PgConnection,
    events: &[&Applied],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let n = events.len();
    let (mut ids, mut types, mut versions, mut websites, mut conversations) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut occurred, mut received, mut contexts, mut payloads, mut partitions, mut offsets) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for a in events {
        let e = &a.event;
        ids.push(e.event_id);
        types.push(e.event_type().name());
        versions.push(i32::try_from(e.schema_version).unwrap_or(i32::MAX));
        websites.push(e.website_id.as_str());
        conversations.push(e.conversation_id.as_str());
        occurred.push(e.occurred_at);
        received.push(e.received_at);
        contexts.push(serde_json::to_value(&e.context).unwrap_or(Value::Null));
        // The payload alone, without the `type` tag the enum serialises with.
        let tagged = serde_json::to_value(&e.payload).unwrap_or(Value::Null);
        payloads.push(tagged.get("payload").cloned().unwrap_or(Value::Null));
        partitions.push(a.partition);
        offsets.push(a.offset);
    }
    let inserted: Vec<(Uuid,)> = sqlx::query_as(
        "INSERT INTO event_log (event_id, type, schema_version, website_id, conversation_id,
                                occurred_at, received_at, context, payload, kafka_partition, kafka_offset)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                              $6::timestamptz[], $7::timestamptz[], $8::jsonb[], $9::jsonb[],
                              $10::int[], $11::bigint[])
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&versions)
    .bind(&websites)
    .bind(&conversations)
    .bind(&occurred)
    .bind(&received)
    .bind(&contexts)
    .bind(&payloads)
    .bind(&partitions)
    .bind(&offsets)
    .fetch_all(conn)
    .await?;
    Ok(inserted.into_iter().map(|(id,)| id).collect())
}
