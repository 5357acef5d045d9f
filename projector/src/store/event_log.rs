//! The event log: every applied event once. Inserting into it is how the projector tells new
//! events from re-deliveries.
//!
//! An event is its id within its website and conversation ([`identity`]): the topic is keyed
//! by conversation, so that is the widest scope in which every reader sees records in the same
//! order, and the same events win whichever order the partitions are read in.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use schemas::Event;

use super::Applied;

/// What makes two records the same event: a client's retry re-sends all three.
pub fn identity(event: &Event) -> (Uuid, &str, &str) {
    (
        event.event_id,
        event.website_id.as_str(),
        event.conversation_id.as_str(),
    )
}

/// Inserts the events not logged yet and returns them, in the order given. `events` must not
/// hold one event twice.
pub async fn insert_new<'a>(
    conn: &mut PgConnection,
    events: &[&'a Applied],
) -> Result<Vec<&'a Applied>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
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
    let inserted: Vec<(Uuid, String, String)> = sqlx::query_as(
        "INSERT INTO event_log (event_id, type, schema_version, website_id, conversation_id,
                                occurred_at, received_at, context, payload, kafka_partition, kafka_offset)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                              $6::timestamptz[], $7::timestamptz[], $8::jsonb[], $9::jsonb[],
                              $10::int[], $11::bigint[])
         ON CONFLICT (event_id, website_id, conversation_id) DO NOTHING
         RETURNING event_id, website_id, conversation_id",
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
    if inserted.len() == events.len() {
        return Ok(events.to_vec());
    }
    let inserted: HashSet<(Uuid, &str, &str)> = inserted
        .iter()
        .map(|(id, website, conversation)| (*id, website.as_str(), conversation.as_str()))
        .collect();
    Ok(events
        .iter()
        .filter(|a| inserted.contains(&identity(&a.event)))
        .copied()
        .collect())
}
