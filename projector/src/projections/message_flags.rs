//! Admin flags on messages: `message.flagged_for_human` and `message.human_replied`.

use chrono::{DateTime, Utc};
use schemas::{Event, Payload};

#[derive(Debug, Clone, PartialEq)]
pub struct MessageFlag {
    pub website_id: String,
    /// The message's `message_id`, or the id of the event that sent it.
    pub message_ref: String,
    pub flagged_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
}

impl MessageFlag {
    pub fn from_event(event: &Event) -> Option<Self> {
        let (r, flagged) = match &event.payload {
            Payload::MessageFlaggedForHuman(r) => (r, true),
            Payload::MessageHumanReplied(r) => (r, false),
            _ => return None,
        };
        let at = Some(event.occurred_at);
        Some(Self {
            website_id: event.website_id.clone(),
            message_ref: r.message_id.clone(),
            flagged_at: if flagged { at } else { None },
            replied_at: if flagged { None } else { at },
        })
    }
}
