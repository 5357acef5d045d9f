//! Websites and tokens.

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
/// traffic (`daily_stats`: bootstrap websites have no `websites` row) — as a SQL query.
pub const KNOWN: &str = "SELECT website_id FROM websites
    UNION SELECT website_id FROM website_privacy
    UNION SELECT DISTINCT website_id FROM daily_stats";

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

/// A website's privacy settings as an admin last set them, and when.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct PrivacyRow {
    pub website_id: String,
    pub anonymize_ip: bool,
    pub retention_days: i32,
    pub contact_review_months: i32,
    pub changed_at: DateTime<Utc>,
}

pub async fn privacy(pool: &PgPool, website_id: &str) -> Result<Option<PrivacyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT website_id, anonymize_ip, retention_days, contact_review_months, changed_at
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
