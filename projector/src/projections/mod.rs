//! Projections: pure functions from events to read-model changes. No I/O here, so every rule
//! is unit-tested with plain values; `store` turns the changes into SQL.
//!
//! Each function sees only events that were never applied before (the event log filters
//! re-deliveries), and its output merges commutatively with what is stored, so partitions can
//! interleave in any order.

pub mod conversations;
pub mod messages;

use schemas::Event;

pub use conversations::ConversationDelta;
pub use messages::MessageRow;

/// Everything one batch of new events changes.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub conversations: Vec<ConversationDelta>,
    pub messages: Vec<MessageRow>,
}

pub fn changes<'a>(events: impl IntoIterator<Item = &'a Event> + Clone) -> Changes {
    Changes {
        conversations: conversations::fold(events.clone()),
        messages: events
            .into_iter()
            .filter_map(MessageRow::from_event)
            .collect(),
    }
}

/// Builders for given/when/then tests.
#[cfg(test)]
pub(crate) mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use schemas::payloads::{MessageSent, WidgetLoaded};
    use schemas::{Context, Event, Payload, Sender};
    use uuid::Uuid;

    /// A fixed instant plus `seconds`.
    pub fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + seconds, 0)
            .single()
            .expect("valid time")
    }

    pub fn event(conversation: &str, occurred_at: DateTime<Utc>, payload: Payload) -> Event {
        Event {
            event_id: Uuid::new_v4(),
            schema_version: 1,
            website_id: "demo".into(),
            conversation_id: conversation.into(),
            occurred_at,
            received_at: occurred_at,
            context: Context {
                channel: "frame".into(),
                ..Context::default()
            },
            payload,
        }
    }

    pub fn widget_loaded(conversation: &str, occurred_at: DateTime<Utc>) -> Event {
        event(
            conversation,
            occurred_at,
            Payload::WidgetLoaded(WidgetLoaded::default()),
        )
    }

    pub fn message(conversation: &str, sender: Sender, occurred_at: DateTime<Utc>) -> Event {
        let text = format!("{} says hi", sender.as_str());
        event(
            conversation,
            occurred_at,
            Payload::MessageSent(MessageSent {
                message_id: None,
                sender,
                text,
                response_time_ms: None,
                confidence_score: None,
                requires_human: false,
            }),
        )
    }
}
