//! Conversations and their messages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ConversationRow {
    pub website_id: String,
    pub conversation_id: String,
    pub status: String,
    pub channel: String,
    pub customer_id: Option<String>,
    /// The contact of the conversation's earliest contact submission.
    pub contact_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    pub language: Option<String>,
    pub page_url: Option<String>,
    pub environment: Option<String>,
    pub widget_loaded_at: Option<DateTime<Utc>>,
    pub engaged_at: Option<DateTime<Utc>>,
    pub first_message_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub message_count: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    /// Average bot response time over the bot messages that reported one.
    pub avg_bot_response_ms: Option<f64>,
    pub requires_human: bool,
    pub cta_clicks: i64,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct MessageRow {
    /// The message's id: the event that created it.
    pub id: Uuid,
    pub message_id: Option<String>,
    pub sender: String,
    /// `None` once the person who wrote or read it was erased.
    pub text: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub response_time_ms: Option<i64>,
    pub confidence_score: Option<f64>,
    pub requires_human: bool,
    pub human_replied: bool,
}

const COLUMNS: &str =
    "website_id, conversation_id, status, channel, customer_id, contact_id, ip_address,
    user_agent, device, language, page_url, environment, widget_loaded_at, engaged_at,
    first_message_at, last_message_at, message_count, user_messages, bot_messages, agent_messages,
    (bot_response_ms_sum::float8 / NULLIF(bot_responses, 0)) AS avg_bot_response_ms,
    requires_human, cta_clicks, closed_at, close_reason, rating, rating_comment,
    first_seen_at, last_activity_at";

/// Newest activity first; all websites when `website_id` is `None`.
pub async fn list(
    pool: &PgPool,
    website_id: Option<&str>,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM conversations
         WHERE ($1::text IS NULL OR website_id = $1)
         ORDER BY last_activity_at DESC, conversation_id
         LIMIT $2"
    ))
    .bind(website_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Conversations with this id, in any website unless `website_id` narrows it.
pub async fn find(
    pool: &PgPool,
    website_id: Option<&str>,
    conversation_id: &str,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM conversations
         WHERE conversation_id = $1 AND ($2::text IS NULL OR website_id = $2)
         ORDER BY website_id LIMIT 2"
    ))
    .bind(conversation_id)
    .bind(website_id)
    .fetch_all(pool)
    .await
}

/// A conversation's messages in the order they were sent.
pub async fn messages(
    pool: &PgPool,
    website_id: &str,
    conversation_id: &str,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id AS id, message_id, sender, text, sent_at, response_time_ms,
                confidence_score, requires_human, human_replied
         FROM messages WHERE website_id = $1 AND conversation_id = $2
         ORDER BY sent_at, event_id LIMIT $3",
    )
    .bind(website_id)
    .bind(conversation_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
