//! Conversation priorities: `conversation.priority_changed`, the latest by (time, event id).

use chrono::{DateTime, Utc};
use schemas::{Event, Payload};
use uuid::Uuid;

/// A conversation's priority as of one change; `None` clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityChange {
    pub website_id: String,
    pub conversation_id: String,
    /// [`schemas::payloads::Priority::rank`].
    pub priority: Option<i16>,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl PriorityChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::ConversationPriorityChanged(p) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: event.website_id.clone(),
            conversation_id: event.conversation_id.clone(),
            priority: p.priority.map(|p| p.rank()),
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}
