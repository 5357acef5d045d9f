//! Inserts closes; an event already present is left alone.

use sqlx::PgConnection;

use super::column;
use crate::projections::closes::NewClose;

pub async fn insert(conn: &mut PgConnection, rows: &[NewClose]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO conversation_closes (event_id, website_id, conversation_id, closed_at, reason)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
         ON CONFLICT (event_id, website_id, conversation_id) DO NOTHING",
    )
    .bind(column(rows, |r| r.event_id))
    .bind(column(rows, |r| r.website_id.as_str()))
    .bind(column(rows, |r| r.conversation_id.as_str()))
    .bind(column(rows, |r| r.closed_at))
    .bind(column(rows, |r| r.reason.as_str()))
    .execute(conn)
    .await?;
    Ok(())
}
