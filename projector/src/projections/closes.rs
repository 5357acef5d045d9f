//! The `conversation_closes` read model: one row per `conversation.closed`, so that a visitor
//! message after any close (not only the latest) counts as a reopen.

use chrono::{DateTime, Utc};
use schemas::{Event, Payload};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct NewClose {
    pub event_id: Uuid,
    pub website_id: String,
    pub conversation_id: String,
    pub closed_at: DateTime<Utc>,
    /// `user`, `admin` or `inactivity`.
    pub reason: String,
}

impl NewClose {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::ConversationClosed(c) = &event.payload else {
            return None;
        };
        Some(Self {
            event_id: event.event_id,
            website_id: event.website_id.clone(),
            conversation_id: event.conversation_id.clone(),
            closed_at: event.occurred_at,
            reason: super::conversations::close_reason(c.reason),
        })
    }
}
