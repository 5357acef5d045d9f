//! Websites.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct WebsiteRow {
    pub website_id: String,
    pub name: String,
    pub write_key: String,
    pub allowed_origins: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The websites in `scope` (all when `None`), oldest first.
pub async fn list(pool: &PgPool, scope: Option<&[String]>) -> Result<Vec<WebsiteRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT website_id, name, write_key, allowed_origins, created_at FROM websites
         WHERE ($1::text[] IS NULL OR website_id = ANY($1))
         ORDER BY created_at, website_id",
    )
    .bind(scope)
    .fetch_all(pool)
    .await
}

/// Every website the read models know of — created through the API, configured, or with any
/// traffic (`started_quarters`: bootstrap websites have no `websites` row) — as a SQL query. The
/// websites with traffic are found by skipping through the primary key from one to the next,
/// not by reading every quarter hour.
pub const KNOWN: &str = "SELECT website_id FROM websites
    UNION SELECT website_id FROM website_privacy
    UNION (WITH RECURSIVE t(website_id) AS (
               SELECT min(website_id) FROM started_quarters
               UNION ALL
               SELECT (SELECT min(q.website_id) FROM started_quarters q
                       WHERE q.website_id > t.website_id)
               FROM t WHERE t.website_id IS NOT NULL)
           SELECT website_id FROM t WHERE website_id IS NOT NULL)";

/// The websites in `scope` (all when `None`) that the read models know of ([`KNOWN`]).
pub async fn known(pool: &PgPool, scope: Option<&[String]>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT website_id FROM ({KNOWN}) k
         WHERE $1::text[] IS NULL OR website_id = ANY($1) ORDER BY website_id"
    ))
    .bind(scope)
    .fetch_all(pool)
    .await
}

/// A website's retention in days and its current cut-off (none before the first).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Retention {
    pub website_id: String,
    pub retention_days: i32,
    pub before: Option<DateTime<Utc>>,
}

/// Every website known to the read models ([`KNOWN`]) with its retention and cut-off.
pub async fn retention(pool: &PgPool) -> Result<Vec<Retention>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH known AS ({KNOWN})
         SELECT k.website_id, COALESCE(p.retention_days, $1) AS retention_days, r.before
         FROM known k
         LEFT JOIN website_privacy p USING (website_id)
         LEFT JOIN retention_cutoffs r USING (website_id)
         ORDER BY k.website_id"
    ))
    .bind(schemas::payloads::DEFAULT_RETENTION_DAYS as i32)
    .fetch_all(pool)
    .await
}

/// A website's privacy settings as an admin last set them, and when.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct PrivacyRow {
    pub website_id: String,
    pub anonymize_ip: bool,
    pub retention_days: i32,
    pub contact_review_months: i32,
    pub record_country: bool,
    pub changed_at: DateTime<Utc>,
}

pub async fn privacy(pool: &PgPool, website_id: &str) -> Result<Option<PrivacyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT website_id, anonymize_ip, retention_days, contact_review_months, record_country,
                changed_at
         FROM website_privacy WHERE website_id = $1",
    )
    .bind(website_id)
    .fetch_optional(pool)
    .await
}

pub async fn find(pool: &PgPool, website_id: &str) -> Result<Option<WebsiteRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT website_id, name, write_key, allowed_origins, created_at FROM websites
         WHERE website_id = $1",
    )
    .bind(website_id)
    .fetch_optional(pool)
    .await
}

/// Who receives a website's weekly report and when, as an admin last set them.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ReportsRow {
    pub website_id: String,
    pub recipients: Vec<String>,
    pub time_zone: String,
    /// ISO day of the week, 1 (Monday) to 7.
    pub weekday: i16,
    pub hour: i16,
    pub changed_at: DateTime<Utc>,
}

pub async fn reports(pool: &PgPool, website_id: &str) -> Result<Option<ReportsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT website_id, recipients, time_zone, weekday, hour, changed_at
         FROM website_reports WHERE website_id = $1",
    )
    .bind(website_id)
    .fetch_optional(pool)
    .await
}

/// A website whose report has recipients, with the time now in its time zone (Postgres knows
/// the zones; the code needs no copy of their rules).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Schedule {
    pub website_id: String,
    pub name: Option<String>,
    pub recipients: Vec<String>,
    pub weekday: i16,
    pub hour: i16,
    pub local_now: chrono::NaiveDateTime,
    /// Days the website keeps what visitors wrote: no report quotes an older week.
    pub retention_days: i32,
}

/// The websites in `scope` (all when `None`) whose report has recipients, as of `now`.
pub async fn schedules(
    pool: &PgPool,
    scope: Option<&[String]>,
    now: DateTime<Utc>,
) -> Result<Vec<Schedule>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.website_id, w.name, r.recipients, r.weekday, r.hour,
                $2::timestamptz AT TIME ZONE r.time_zone AS local_now,
                COALESCE(p.retention_days, $3) AS retention_days
         FROM website_reports r LEFT JOIN websites w USING (website_id)
         LEFT JOIN website_privacy p USING (website_id)
         WHERE ($1::text[] IS NULL OR r.website_id = ANY($1)) AND cardinality(r.recipients) > 0
         ORDER BY r.website_id",
    )
    .bind(scope)
    .bind(now)
    .bind(schemas::payloads::DEFAULT_RETENTION_DAYS as i32)
    .fetch_all(pool)
    .await
}

/// Whether Postgres knows `zone` as a time zone name.
pub async fn is_time_zone(pool: &PgPool, zone: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(zone)
        .fetch_one(pool)
        .await
}

/// The time zone a website's days are counted in: the one an admin set, else UTC.
pub async fn time_zone(pool: &PgPool, website_id: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE((SELECT time_zone FROM website_time_zones WHERE website_id = $1), 'UTC')",
    )
    .bind(website_id)
    .fetch_one(pool)
    .await
}

/// A website's time zone as an admin last set it, and when.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct TimeZoneRow {
    pub time_zone: String,
    pub changed_at: DateTime<Utc>,
}

pub async fn time_zone_row(
    pool: &PgPool,
    website_id: &str,
) -> Result<Option<TimeZoneRow>, sqlx::Error> {
    sqlx::query_as("SELECT time_zone, changed_at FROM website_time_zones WHERE website_id = $1")
        .bind(website_id)
        .fetch_optional(pool)
        .await
}

/// A website's bot settings as an admin last set them, and when.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct BotSettingsRow {
    pub low_confidence: f64,
    pub idle_minutes: i32,
    pub changed_at: DateTime<Utc>,
}

pub async fn bot_settings(
    pool: &PgPool,
    website_id: &str,
) -> Result<Option<BotSettingsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT low_confidence, idle_minutes, changed_at FROM website_bot_settings
         WHERE website_id = $1",
    )
    .bind(website_id)
    .fetch_optional(pool)
    .await
}

/// A website's lead keywords as an admin last set them, and when.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct LeadKeywordsRow {
    pub pricing: Vec<String>,
    pub demo: Vec<String>,
    pub changed_at: DateTime<Utc>,
}

pub async fn lead_keywords(
    pool: &PgPool,
    website_id: &str,
) -> Result<Option<LeadKeywordsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT pricing, demo, changed_at FROM website_lead_keywords WHERE website_id = $1",
    )
    .bind(website_id)
    .fetch_optional(pool)
    .await
}

/// Today's date in `zone` (a name [`is_time_zone`] accepts).
pub async fn today(pool: &PgPool, zone: &str) -> Result<chrono::NaiveDate, sqlx::Error> {
    sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
        .bind(zone)
        .fetch_one(pool)
        .await
}
