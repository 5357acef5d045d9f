//! The `messages` read model: one row per `message.sent`, keyed by event id.

use chrono::{DateTime, Utc};
use schemas::{Event, Payload, Sender};
use uuid::Uuid;

use super::language;

#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub event_id: Uuid,
    pub website_id: String,
    pub conversation_id: String,
    pub message_id: Option<String>,
    pub sender: &'static str,
    pub sender_id: Option<String>,
    pub sender_name: Option<String>,
    pub text: String,
    pub sent_at: DateTime<Utc>,
    pub response_time_ms: Option<i64>,
    pub confidence_score: Option<f64>,
    /// The message itself asked for a human; admins' flags add to `requires_human` later.
    pub requires_human: bool,
    /// The language of a visitor's message whose event declared none ([`language::detect`]).
    pub detected_language: Option<&'static str>,
}

impl NewMessage {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::MessageSent(m) = &event.payload else {
            return None;
        };
        Some(Self {
            event_id: event.event_id,
            website_id: event.website_id.clone(),
            conversation_id: event.conversation_id.clone(),
            message_id: m.message_id.clone(),
            sender: m.sender.kind.as_str(),
            sender_id: m.sender.id.clone(),
            sender_name: m.sender.name.clone(),
            text: m.text.clone(),
            sent_at: event.occurred_at,
            response_time_ms: m
                .response_time_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            confidence_score: m.confidence_score,
            requires_human: m.requires_human,
            detected_language: (m.sender.kind == Sender::User && event.context.language.is_none())
                .then(|| language::detect(&m.text))
                .flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::{at, message, widget_loaded};

    #[test]
    fn a_message_event_becomes_a_row_with_its_sender_and_time() {
        let event = message("c1", Sender::Bot, at(7));
        let row = NewMessage::from_event(&event).unwrap();
        assert_eq!(
            (row.event_id, row.sender, row.sent_at),
            (event.event_id, "bot", at(7))
        );
    }

    #[test]
    fn other_events_are_not_messages() {
        assert_eq!(NewMessage::from_event(&widget_loaded("c1", at(0))), None);
    }
}
