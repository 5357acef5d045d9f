//! Inserts CTA clicks; an event id already present is left alone.

use sqlx::PgConnection;

use crate::projections::NewCtaClick;

pub async fn insert(conn: &mut PgConnection, rows: &[NewCtaClick]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO cta_clicks (event_id, website_id, conversation_id, cta_id, label, value, customer_id, clicked_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::timestamptz[])
         ON CONFLICT (event_id, website_id, conversation_id) DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.website_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.conversation_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.cta_id.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.value.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.customer_id.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.clicked_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
