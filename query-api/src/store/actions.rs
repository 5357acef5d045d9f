//! The admin actions taken on a conversation or a contact, with the token that took each:
//! read from the event log, where every admin event records its actor (`context.actor`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ActionRow {
    pub event_id: Uuid,
    /// The admin event's type, e.g. `conversation.closed`, `contact.updated`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The token that acted: `bootstrap`, a token's id (`GET /v1/tokens`), or `retention`.
    pub actor: String,
    /// The acting token's name, when it has one.
    pub actor_name: Option<String>,
}

/// Whether the projector applied the event `event_id` (it is in the event log).
pub async fn applied(pool: &PgPool, event_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM event_log WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(pool)
        .await
}

/// The admin actions whose subject is `subject` on `website_id` (a conversation id, or
/// `contact:<id>`), oldest first. Actions taken before actors were recorded are not listed.
pub async fn on(
    pool: &PgPool,
    website_id: &str,
    subject: &str,
) -> Result<Vec<ActionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.event_id, l.type AS event_type, l.occurred_at,
                l.context->>'actor' AS actor, t.name AS actor_name
         FROM event_log l LEFT JOIN api_tokens t ON t.token_digest = l.context->>'actor'
         WHERE l.website_id = $1 AND l.conversation_id = $2 AND l.context ? 'actor'
         ORDER BY l.occurred_at, l.event_id",
    )
    .bind(website_id)
    .bind(subject)
    .fetch_all(pool)
    .await
}
