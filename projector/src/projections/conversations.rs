//! The `conversations` read model: one row per chat session.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemas::{Event, Payload, Producer, Sender};
use uuid::Uuid;

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
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    /// Sum and count of bot response times, for the average.
    pub bot_response_ms_sum: i64,
    pub bot_responses: i64,
    /// The response time of the earliest bot message that carried one, by `(time, event id)`:
    /// stored so an export of a million conversations need not look it up in `messages`.
    pub first_response: Option<Stamped<i64>>,
    /// Any message asked for a human.
    pub requires_human: bool,
    pub cta_clicks: i64,
    /// The latest close by `(time, event id)`: a message after it reopens the conversation.
    pub closed: Option<Stamped<String>>,
    /// The latest rating by `(time, event id)`: `(rating, comment)`.
    pub rating: Option<Stamped<(i16, Option<String>)>>,
    /// The context of the earliest event.
    pub origin: Option<Stamped<Origin>>,
    /// The customer id of the earliest event that carried one; `None` inside when that event's
    /// customer id was erased (it still names the customer by pseudonym, so it still counts
    /// as the earliest, and a replay of erased events agrees with the live read model).
    pub customer: Option<Stamped<Option<String>>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
}

/// A value stamped with the event that set it. Merging keeps the latest (or the earliest) by
/// `(occurred_at, event_id)`, which makes it independent of the order events are applied in.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<T> {
    pub at: DateTime<Utc>,
    pub event_id: Uuid,
    pub value: T,
}

impl<T: Clone> Stamped<T> {
    fn latest(a: &Option<Self>, b: &Option<Self>) -> Option<Self> {
        Self::pick(a, b, |x, y| (y.at, y.event_id) > (x.at, x.event_id))
    }

    fn earliest(a: &Option<Self>, b: &Option<Self>) -> Option<Self> {
        Self::pick(a, b, |x, y| (y.at, y.event_id) < (x.at, x.event_id))
    }

    fn pick(
        a: &Option<Self>,
        b: &Option<Self>,
        b_wins: impl Fn(&Self, &Self) -> bool,
    ) -> Option<Self> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if b_wins(x, y) { y.clone() } else { x.clone() }),
            (x, y) => x.clone().or_else(|| y.clone()),
        }
    }
}

/// Where the conversation started: the context of its earliest event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub page_url: Option<String>,
    pub environment: String,
    /// Ingest's daily-salted hash of who the visitor is: unique visitors count these.
    pub visitor: Option<String>,
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
            user_messages: 0,
            bot_messages: 0,
            agent_messages: 0,
            bot_response_ms_sum: 0,
            bot_responses: 0,
            first_response: None,
            requires_human: false,
            cta_clicks: 0,
            closed: None,
            rating: None,
            origin: Some(Stamped {
                at,
                event_id: event.event_id,
                value: origin_of(event),
            }),
            customer: (customer_of(event).is_some() || event.context.pseudonyms.customer.is_some())
                .then(|| Stamped {
                    at,
                    event_id: event.event_id,
                    value: customer_of(event),
                }),
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
                delta.requires_human = m.requires_human;
                match m.sender.kind {
                    Sender::User => {
                        delta.engaged_at = Some(at);
                        delta.user_messages = 1;
                    }
                    Sender::Bot => {
                        delta.bot_messages = 1;
                        if let Some(ms) = m.response_time_ms {
                            let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                            delta.bot_response_ms_sum = ms;
                            delta.bot_responses = 1;
                            delta.first_response = Some(Stamped {
                                at,
                                event_id: event.event_id,
                                value: ms,
                            });
                        }
                    }
                    Sender::Agent => delta.agent_messages = 1,
                }
            }
            Payload::CtaClicked(_) => delta.cta_clicks = 1,
            Payload::ConversationClosed(c) => {
                delta.closed = Some(Stamped {
                    at,
                    event_id: event.event_id,
                    value: close_reason(c.reason),
                });
            }
            Payload::ConversationRated(r) => {
                let value = (i16::from(r.rating), r.comment.clone());
                delta.rating = Some(Stamped {
                    at,
                    event_id: event.event_id,
                    value,
                });
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
        self.user_messages += other.user_messages;
        self.bot_messages += other.bot_messages;
        self.agent_messages += other.agent_messages;
        self.bot_response_ms_sum += other.bot_response_ms_sum;
        self.bot_responses += other.bot_responses;
        self.first_response = Stamped::earliest(&self.first_response, &other.first_response);
        self.requires_human |= other.requires_human;
        self.cta_clicks += other.cta_clicks;
        self.closed = Stamped::latest(&self.closed, &other.closed);
        self.rating = Stamped::latest(&self.rating, &other.rating);
        self.origin = Stamped::earliest(&self.origin, &other.origin);
        self.customer = Stamped::earliest(&self.customer, &other.customer);
        self.first_seen_at = self.first_seen_at.min(other.first_seen_at);
        self.last_activity_at = self.last_activity_at.max(other.last_activity_at);
    }

    /// `closed` after its latest close unless a message came later; else `active` once the
    /// visitor engaged; else `loaded` (the widget only offered a chat). The SQL upsert computes
    /// the same from the merged columns.
    pub fn status(&self) -> &'static str {
        match &self.closed {
            Some(c) if self.last_message_at.is_none_or(|m| c.at >= m) => "closed",
            _ if self.engaged_at.is_some() => "active",
            _ => "loaded",
        }
    }
}

fn origin_of(event: &Event) -> Origin {
    let c = &event.context;
    let page_url = match &event.payload {
        Payload::WidgetLoaded(w) => w.page_url.clone(),
        _ => None,
    };
    Origin {
        ip: c.ip.map(|ip| ip.to_string()),
        user_agent: c.user_agent.clone(),
        device: c.device.clone(),
        language: c.language.clone(),
        country: c.country.clone(),
        page_url: page_url.or_else(|| c.page_url.clone()),
        environment: serde_json::to_value(c.environment)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        visitor: c.visitor.clone(),
    }
}

/// A close's reason as its wire name (`user`, `admin`, `inactivity`).
pub fn close_reason(reason: schemas::payloads::CloseReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The customer id an event names, if any.
pub fn customer_of(event: &Event) -> Option<String> {
    match &event.payload {
        Payload::WidgetLoaded(p) => p.customer_id.clone(),
        Payload::ConversationStarted(p) => p.customer_id.clone(),
        Payload::MessageSent(p) => p.customer_id.clone(),
        Payload::CtaClicked(p) => p.customer_id.clone(),
        Payload::ContactIdentified(p) => p.customer_id.clone(),
        _ => None,
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

    fn closed(conversation: &str, seconds: i64) -> Event {
        let reason = schemas::payloads::CloseReason::User;
        schemas::testing::closed("demo", conversation, at(seconds), reason)
    }

    fn rated(conversation: &str, seconds: i64, rating: u8) -> Event {
        schemas::testing::rated("demo", conversation, at(seconds), rating)
    }

    #[test]
    fn messages_are_counted_by_sender_with_the_bots_response_times() {
        let mut bot = message("c1", Sender::Bot, at(2));
        if let schemas::Payload::MessageSent(m) = &mut bot.payload {
            m.response_time_ms = Some(800);
        }
        let d = fold([
            &message("c1", Sender::User, at(1)),
            &bot,
            &message("c1", Sender::Agent, at(3)),
        ])
        .remove(0);
        assert_eq!(
            (d.user_messages, d.bot_messages, d.agent_messages),
            (1, 1, 1)
        );
        assert_eq!((d.bot_response_ms_sum, d.bot_responses), (800, 1));
    }

    #[test]
    fn the_first_response_is_the_earliest_bot_message_whatever_the_order() {
        let bot = |seconds, ms| {
            let mut e = message("c1", Sender::Bot, at(seconds));
            if let schemas::Payload::MessageSent(m) = &mut e.payload {
                m.response_time_ms = ms;
            }
            e
        };
        // A bot message without a response time is not a response.
        let (untimed, first, second) = (bot(1, None), bot(2, Some(900)), bot(5, Some(300)));
        let a = fold([&untimed, &first, &second]).remove(0);
        let b = fold([&second, &first, &untimed]).remove(0);
        assert_eq!(a, b);
        assert_eq!(a.first_response.map(|r| r.value), Some(900));
    }

    #[test]
    fn a_closed_conversation_reopens_when_a_message_comes_after_the_close() {
        let talk = message("c1", Sender::User, at(1));
        let close = closed("c1", at(5).timestamp() - 1_790_000_000);
        assert_eq!(fold([&talk, &close])[0].status(), "closed");
        let later = message("c1", Sender::User, at(9));
        assert_eq!(fold([&talk, &close, &later])[0].status(), "active");
        assert_eq!(
            fold([&later, &close, &talk])[0].status(),
            "active",
            "whatever the order"
        );
    }

    #[test]
    fn the_latest_rating_wins_whatever_the_order() {
        let (first, second) = (rated("c1", 1, 2), rated("c1", 7, 5));
        let a = fold([&first, &second]).remove(0);
        let b = fold([&second, &first]).remove(0);
        assert_eq!(a, b);
        assert_eq!(a.rating.map(|r| r.value.0), Some(5));
    }

    #[test]
    fn the_origin_is_the_earliest_events_context_and_the_customer_the_earliest_known() {
        let mut load = widget_loaded("c1", at(0));
        load.context.language = Some("nb-NO".into());
        let mut later = message("c1", Sender::User, at(5));
        later.context.language = Some("en-US".into());
        if let schemas::Payload::MessageSent(m) = &mut later.payload {
            m.customer_id = Some("cust-9".into());
        }
        let a = fold([&load, &later]).remove(0);
        let b = fold([&later, &load]).remove(0);
        assert_eq!(a, b);
        assert_eq!(a.origin.unwrap().value.language.as_deref(), Some("nb-NO"));
        assert_eq!(a.customer.map(|c| c.value), Some(Some("cust-9".to_owned())));
    }
}
