//! The visitor questions behind what the bot could not handle, for `GET /v1/bot-quality`: in
//! the conversations started in a range, the visitor's message before each answer the bot was
//! unsure of (a `confidence_score` under the website's `low_confidence`), before each handoff,
//! and the last one of a conversation left unanswered. Texts erased with their person (or by
//! retention) are null and left out.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use super::stats::Range;

/// One visitor message and why it is listed.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Question {
    pub website_id: String,
    pub conversation_id: String,
    /// The message's event id (with the conversation, its identity): a message listed for
    /// several reasons is one question.
    pub event_id: uuid::Uuid,
    pub text: String,
    pub sent_at: DateTime<Utc>,
    /// The bot answered it unsure.
    pub unsure: bool,
    /// It led to a handoff.
    pub handed_off: bool,
    /// Nobody answered it.
    pub unanswered: bool,
}

/// The questions of `range`, newest first, at most `limit`.
pub async fn questions(
    pool: &PgPool,
    range: &Range<'_>,
    limit: i64,
) -> Result<Vec<Question>, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(
        "WITH c AS MATERIALIZED (
             SELECT c.website_id, c.conversation_id, c.handoff_at, c.unanswered,
                    COALESCE(b.low_confidence, ",
    );
    q.push(schemas::payloads::DEFAULT_LOW_CONFIDENCE.to_string());
    q.push(") AS low_confidence");
    range.push_conversations(&mut q);
    q.push(
        "),
         -- The visitor's message at or before an instant of a conversation.
         asked AS (
             SELECT c.website_id, c.conversation_id, u.event_id, 'unsure' AS reason
             FROM c JOIN messages a
               ON a.website_id = c.website_id AND a.conversation_id = c.conversation_id
              AND a.sender = 'bot' AND a.confidence_score < c.low_confidence
             CROSS JOIN LATERAL (
                 SELECT u.event_id FROM messages u
                 WHERE u.website_id = a.website_id AND u.conversation_id = a.conversation_id
                   AND u.sender = 'user' AND u.sent_at <= a.sent_at
                 ORDER BY u.sent_at DESC, u.event_id DESC LIMIT 1) u
             UNION ALL
             SELECT c.website_id, c.conversation_id, u.event_id, 'handed_off'
             FROM c CROSS JOIN LATERAL (
                 SELECT u.event_id FROM messages u
                 WHERE u.website_id = c.website_id AND u.conversation_id = c.conversation_id
                   AND u.sender = 'user' AND u.sent_at <= c.handoff_at
                 ORDER BY u.sent_at DESC, u.event_id DESC LIMIT 1) u
             WHERE c.handoff_at IS NOT NULL
             UNION ALL
             SELECT c.website_id, c.conversation_id, u.event_id, 'unanswered'
             FROM c CROSS JOIN LATERAL (
                 SELECT u.event_id FROM messages u
                 WHERE u.website_id = c.website_id AND u.conversation_id = c.conversation_id
                   AND u.sender = 'user'
                 ORDER BY u.sent_at DESC, u.event_id DESC LIMIT 1) u
             WHERE c.unanswered)
         SELECT m.website_id, m.conversation_id, m.event_id, m.text, m.sent_at,
                bool_or(a.reason = 'unsure') AS unsure,
                bool_or(a.reason = 'handed_off') AS handed_off,
                bool_or(a.reason = 'unanswered') AS unanswered
         FROM asked a JOIN messages m ON m.event_id = a.event_id AND m.website_id = a.website_id
                                   AND m.conversation_id = a.conversation_id
         WHERE m.text IS NOT NULL
         GROUP BY m.website_id, m.conversation_id, m.event_id, m.text, m.sent_at
         ORDER BY m.sent_at DESC, m.event_id DESC LIMIT ",
    );
    q.push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}
