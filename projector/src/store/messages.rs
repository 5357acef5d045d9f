//! Inserts message rows; an event already present is left alone.

use sqlx::PgConnection;

use crate::projections::NewMessage;

pub async fn insert(conn: &mut PgConnection, rows: &[NewMessage]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<_> = rows.iter().map(|r| r.event_id).collect();
    let websites: Vec<&str> = rows.iter().map(|r| r.website_id.as_str()).collect();
    let conversations: Vec<&str> = rows.iter().map(|r| r.conversation_id.as_str()).collect();
    let message_ids: Vec<Option<&str>> = rows.iter().map(|r| r.message_id.as_deref()).collect();
    let senders: Vec<&str> = rows.iter().map(|r| r.sender).collect();
    let sender_ids: Vec<Option<&str>> = rows.iter().map(|r| r.sender_id.as_deref()).collect();
    let sender_names: Vec<Option<&str>> = rows.iter().map(|r| r.sender_name.as_deref()).collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let sent_at: Vec<_> = rows.iter().map(|r| r.sent_at).collect();
    let response_times: Vec<Option<i64>> = rows.iter().map(|r| r.response_time_ms).collect();
    let scores: Vec<Option<f64>> = rows.iter().map(|r| r.confidence_score).collect();
    let requires_human: Vec<bool> = rows.iter().map(|r| r.requires_human).collect();
    sqlx::query(
        "INSERT INTO messages (event_id, website_id, conversation_id, message_id, sender, text,
                               sent_at, response_time_ms, confidence_score, requires_human,
                               sender_id, sender_name, asked_human, detected_language)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::timestamptz[], $8::bigint[], $9::float8[], $10::bool[],
                              $11::text[], $12::text[], $10::bool[], $13::text[])
         ON CONFLICT (event_id, website_id, conversation_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&websites)
    .bind(&conversations)
    .bind(&message_ids)
    .bind(&senders)
    .bind(&texts)
    .bind(&sent_at)
    .bind(&response_times)
    .bind(&scores)
    .bind(&requires_human)
    .bind(&sender_ids)
    .bind(&sender_names)
    .bind(rows.iter().map(|r| r.detected_language).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
