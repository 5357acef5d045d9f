//! The `conversations` read model: one row per chat session.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemas::{Event, Payload, Producer, Sender};

/// What a set of events adds to one conversation. Merging two deltas, or a delta into the
/// stored row, is commutative and associative: earliest times by `min`, latest by `max`,
/// counts by `+` (each event is counted once because only new events are folded).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationDelta {
    pub website_id: String,
    pub conversation_id: String,
    /// The channel of the conversation's earliest event.
    pub channel: String,
    pub widget_loaded_at: Option<DateTime<Utc>>,
    /// The first `conversation.started` or user message: the visitor engaged.
    pub engaged_at: Option<DateTime<Utc>>,
    pub first_message_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub message_count: i64,
    pub first_seen_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
}

impl ConversationDelta {
    /// What a visitor-side event adds to its conversation; `None` for admin actions, which
    /// carry their own keys and are folded by their own projections.
    pub fn from_event(event: &Event) -> Option<Self> {
        if event.event_type().producer() != Producer::Client {
            return None;
        }
        let at = event.occurred_at;
        let mut delta = Self {
            website_id: event.website_id.clone(),
            conversation_id: event.conversation_id.clone(),
            channel: event.context.channel.clone(),
            widget_loaded_at: None,
            engaged_at: None,
            first_message_at: None,
            last_message_at: None,
            message_count: 0,
            first_seen_at: at,
            last_activity_at: at,
        };
        match &event.payload {
            Payload::WidgetLoaded(_) => delta.widget_loaded_at = Some(at),
            Payload::ConversationStarted(_) => delta.engaged_at = Some(at),
            Payload::MessageSent(m) => {
                delta.first_message_at = Some(at);
                delta.last_message_at = Some(at);
                delta.message_count = 1;
                if m.sender == Sender::User {
                    delta.engaged_at = Some(at);
                }
            }
            // Other visitor events (CTA clicks, contact forms, ratings, closes) still place the
            // conversation in time; their own columns come with their projections.
            _ => {}
        }
        Some(delta)
    }

    pub fn merge(&mut self, other: &Self) {
        if (other.first_seen_at, &other.channel) < (self.first_seen_at, &self.channel) {
            self.channel.clone_from(&other.channel);
        }
        self.widget_loaded_at = min_opt(self.widget_loaded_at, other.widget_loaded_at);
        self.engaged_at = min_opt(self.engaged_at, other.engaged_at);
        self.first_message_at = min_opt(self.first_message_at, other.first_message_at);
        self.last_message_at = self.last_message_at.max(other.last_message_at);
        self.message_count += other.message_count;
        self.first_seen_at = self.first_seen_at.min(other.first_seen_at);
        self.last_activity_at = self.last_activity_at.max(other.last_activity_at);
    }

    /// `active` once the visitor engaged; until then the widget only offered a chat.
    pub fn status(&self) -> &'static str {
        if self.engaged_at.is_some() {
            "active"
        } else {
            "loaded"
        }
    }
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One delta per conversation touched by `events`, in a stable order (so concurrent writers
/// lock rows in the same order).
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<ConversationDelta> {
    let mut by_key: HashMap<(&str, &str), ConversationDelta> = HashMap::new();
    for event in events {
        let Some(delta) = ConversationDelta::from_event(event) else {
            continue;
        };
        by_key
            .entry((&event.website_id, &event.conversation_id))
            .and_modify(|d| d.merge(&delta))
            .or_insert(delta);
    }
    let mut deltas: Vec<_> = by_key.into_values().collect();
    deltas.sort_by(|a, b| {
        (&a.website_id, &a.conversation_id).cmp(&(&b.website_id, &b.conversation_id))
    });
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::{at, event, message, widget_loaded};

    #[test]
    fn given_only_a_widget_load_the_conversation_is_loaded_not_active() {
        let deltas = fold([&widget_loaded("c1", at(0))]);
        assert_eq!(deltas.len(), 1);
        assert_eq!(deltas[0].status(), "loaded");
        assert_eq!(deltas[0].widget_loaded_at, Some(at(0)));
        assert_eq!(deltas[0].message_count, 0);
    }

    #[test]
    fn given_a_user_message_the_conversation_is_engaged_at_that_message() {
        let deltas = fold([
            &widget_loaded("c1", at(0)),
            &message("c1", Sender::User, at(5)),
        ]);
        assert_eq!(deltas[0].status(), "active");
        assert_eq!(deltas[0].engaged_at, Some(at(5)));
    }

    #[test]
    fn given_only_a_bot_greeting_the_visitor_has_not_engaged() {
        let deltas = fold([&message("c1", Sender::Bot, at(1))]);
        assert_eq!(deltas[0].status(), "loaded");
        assert_eq!(deltas[0].message_count, 1);
    }

    #[test]
    fn given_conversation_started_the_conversation_is_active() {
        let started = event(
            "c1",
            at(3),
            schemas::Payload::ConversationStarted(Default::default()),
        );
        assert_eq!(fold([&started])[0].engaged_at, Some(at(3)));
    }

    #[test]
    fn messages_set_first_and_last_times_and_the_count_whatever_their_order() {
        let a = message("c1", Sender::User, at(10));
        let b = message("c1", Sender::Bot, at(20));
        let c = message("c1", Sender::User, at(30));
        let forward = fold([&a, &b, &c]);
        let backward = fold([&c, &b, &a]);
        assert_eq!(forward, backward);
        assert_eq!(forward[0].first_message_at, Some(at(10)));
        assert_eq!(forward[0].last_message_at, Some(at(30)));
        assert_eq!(forward[0].message_count, 3);
        assert_eq!(forward[0].last_activity_at, at(30));
    }

    #[test]
    fn merging_deltas_is_the_same_as_folding_all_events_at_once() {
        let events = [
            widget_loaded("c1", at(0)),
            message("c1", Sender::User, at(4)),
            message("c1", Sender::Bot, at(6)),
        ];
        let mut merged = fold([&events[2]]).remove(0);
        merged.merge(&fold([&events[0], &events[1]])[0]);
        assert_eq!(merged, fold(events.iter()).remove(0));
    }

    #[test]
    fn conversations_of_different_websites_with_the_same_id_stay_apart() {
        let mut other = widget_loaded("c1", at(0));
        other.website_id = "other".into();
        assert_eq!(fold([&widget_loaded("c1", at(0)), &other]).len(), 2);
    }
}
