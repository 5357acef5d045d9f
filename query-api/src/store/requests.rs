//! Contact requests and their status history.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct RequestRow {
    pub website_id: String,
    pub request_id: String,
    pub conversation_id: String,
    pub contact_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub message: Option<String>,
    #[schemars(with = "Value")]
    pub chat_context: Json<Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub status: String,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub contacted_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "website_id, request_id, conversation_id, contact_id, name, email, phone,
    message, chat_context, ip_address, user_agent, status, notes, created_at, contacted_at,
    resolved_at";

/// Newest first.
pub async fn list(
    pool: &PgPool,
    websites: Option<&[String]>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<RequestRow>, i64), sqlx::Error> {
    let filter = |q: &mut QueryBuilder<'_, Postgres>| {
        q.push(" WHERE true");
        if let Some(w) = websites {
            super::push_websites(q, "website_id", w);
        }
        if let Some(status) = status {
            q.push(" AND status = ").push_bind(status.to_owned());
        }
    };
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM contact_requests"));
    filter(&mut q);
    q.push(" ORDER BY created_at DESC, website_id, request_id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = q.build_query_as().fetch_all(pool).await?;
    let mut q = QueryBuilder::new("SELECT count(*) FROM contact_requests");
    filter(&mut q);
    let total = q.build_query_scalar().fetch_one(pool).await?;
    Ok((rows, total))
}

pub async fn find(
    pool: &PgPool,
    websites: Option<&[String]>,
    request_id: &str,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contact_requests
         WHERE request_id = $1 AND ($2::text[] IS NULL OR website_id = ANY($2))
         ORDER BY website_id LIMIT 2"
    ))
    .bind(request_id)
    .bind(websites)
    .fetch_all(pool)
    .await
}

pub async fn of_contact(
    pool: &PgPool,
    website_id: &str,
    contact_id: &str,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contact_requests WHERE website_id = $1 AND contact_id = $2
         ORDER BY created_at DESC, request_id"
    ))
    .bind(website_id)
    .bind(contact_id)
    .fetch_all(pool)
    .await
}

/// One admin status change and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ChangeRow {
    pub event_id: Uuid,
    pub status: String,
    pub expected_status: String,
    pub notes: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    /// The token that made the change: `bootstrap`, or a token's id (`GET /v1/tokens`).
    pub actor: Option<String>,
}

pub async fn changes(
    pool: &PgPool,
    website_id: &str,
    request_id: &str,
) -> Result<Vec<ChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, status, expected_status, notes, occurred_at, outcome, reason, actor
         FROM contact_request_changes WHERE website_id = $1 AND request_id = $2
         ORDER BY occurred_at, event_id",
    )
    .bind(website_id)
    .bind(request_id)
    .fetch_all(pool)
    .await
}

pub async fn change(pool: &PgPool, event_id: Uuid) -> Result<Option<ChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id, status, expected_status, notes, occurred_at, outcome, reason, actor
         FROM contact_request_changes WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await
}
