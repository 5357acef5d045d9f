//! Event builders for tests in every crate (feature `testing`).

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::payloads::{
    CloseReason, ConversationClosed, ConversationRated, MessageSent, WidgetLoaded,
};
use crate::{Context, Event, Payload, Sender};

/// A fixed instant plus `seconds`, so expected times can be written as numbers.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0)
        .single()
        .unwrap_or_default()
}

/// An event with a fresh id, received when it occurred, on the `frame` channel.
pub fn event(
    website: &str,
    conversation: &str,
    occurred_at: DateTime<Utc>,
    payload: Payload,
) -> Event {
    Event {
        event_id: Uuid::new_v4(),
        schema_version: payload.event_type().current_version(),
        website_id: website.into(),
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

pub fn widget_loaded(website: &str, conversation: &str, occurred_at: DateTime<Utc>) -> Event {
    event(
        website,
        conversation,
        occurred_at,
        Payload::WidgetLoaded(WidgetLoaded::default()),
    )
}

pub fn message(
    website: &str,
    conversation: &str,
    occurred_at: DateTime<Utc>,
    sender: Sender,
    text: &str,
) -> Event {
    event(
        website,
        conversation,
        occurred_at,
        Payload::MessageSent(MessageSent {
            customer_id: None,
            message_id: None,
            sender: sender.into(),
            text: text.into(),
            response_time_ms: None,
            confidence_score: None,
            requires_human: false,
        }),
    )
}

pub fn closed(
    website: &str,
    conversation: &str,
    occurred_at: DateTime<Utc>,
    reason: CloseReason,
) -> Event {
    event(
        website,
        conversation,
        occurred_at,
        Payload::ConversationClosed(ConversationClosed { reason }),
    )
}

/// A rating without a comment.
pub fn rated(website: &str, conversation: &str, occurred_at: DateTime<Utc>, rating: u8) -> Event {
    event(
        website,
        conversation,
        occurred_at,
        Payload::ConversationRated(ConversationRated {
            rating,
            comment: None,
        }),
    )
}
