//! The claims by which a weekly report is sent at most once per website and week
//! (`colloquy.report_deliveries`), across restarts and query-api instances.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgPool};

/// A week's report that some send claimed, and when it went out (none while it is being sent,
/// or when the process sending it died mid-send).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct DeliveryRow {
    pub claimed_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The claim on the report of the week from `week_from` for `website_id`, if any.
pub async fn find(
    pool: &PgPool,
    website_id: &str,
    week_from: NaiveDate,
) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT claimed_at, sent_at FROM colloquy.report_deliveries
         WHERE website_id = $1 AND week_from = $2",
    )
    .bind(website_id)
    .bind(week_from)
    .fetch_optional(pool)
    .await
}

/// How many reports of `website_id` were claimed in the 24 hours before now.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct RecentSends {
    pub count: i64,
    /// When the oldest of them leaves that window.
    pub next_free_at: Option<DateTime<Utc>>,
}

pub async fn in_the_last_day(pool: &PgPool, website_id: &str) -> Result<RecentSends, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS count, min(claimed_at) + interval '1 day' AS next_free_at
         FROM colloquy.report_deliveries
         WHERE website_id = $1 AND claimed_at > now() - interval '1 day'",
    )
    .bind(website_id)
    .fetch_one(pool)
    .await
}

/// Claims the week's report for a send to `recipients`; false when another send holds it.
pub async fn claim(
    pool: &PgPool,
    website_id: &str,
    week_from: NaiveDate,
    recipients: &[String],
) -> Result<bool, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO colloquy.report_deliveries (website_id, week_from, state, recipients)
         VALUES ($1, $2, 'sending', $3) ON CONFLICT DO NOTHING RETURNING 1",
    )
    .bind(website_id)
    .bind(week_from)
    .bind(recipients)
    .fetch_optional(pool)
    .await?;
    Ok(claimed.is_some())
}

/// Releases a claim whose send failed before anything went out, so the next attempt sends it.
pub async fn release(
    pool: &PgPool,
    website_id: &str,
    week_from: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM colloquy.report_deliveries
         WHERE website_id = $1 AND week_from = $2 AND state = 'sending'",
    )
    .bind(website_id)
    .bind(week_from)
    .execute(pool)
    .await
    .map(drop)
}

/// Records that the claimed week's report went out.
pub async fn mark_sent(
    pool: &PgPool,
    website_id: &str,
    week_from: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE colloquy.report_deliveries SET state = 'sent', sent_at = now()
         WHERE website_id = $1 AND week_from = $2",
    )
    .bind(website_id)
    .bind(week_from)
    .execute(pool)
    .await
    .map(drop)
}
