//! The `daily_stats` read model: per website and UTC day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemas::payloads::CloseReason;
use schemas::{Event, Payload, Producer, Sender};

/// What some events add to one website's day. Every field is a sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyDelta {
    pub widget_loads: i64,
    pub engaged_conversations: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    pub cta_clicks: i64,
    pub contact_requests: i64,
    pub unique_visitors: i64,
    pub bot_response_ms_sum: i64,
    pub bot_responses: i64,
    pub ratings_sum: i64,
    pub ratings_count: i64,
}

pub type DayKey = (String, NaiveDate);

pub fn day(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// The event-level counters of `events` (each applied for the first time), by website and day.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> BTreeMap<DayKey, DailyDelta> {
    let mut days: BTreeMap<DayKey, DailyDelta> = BTreeMap::new();
    for event in events {
        let d = days
            .entry((event.website_id.clone(), day(event.occurred_at)))
            .or_default();
        match &event.payload {
            Payload::WidgetLoaded(_) => d.widget_loads += 1,
            Payload::MessageSent(m) => match m.sender.kind {
                Sender::User => d.user_messages += 1,
                Sender::Agent => d.agent_messages += 1,
                Sender::Bot => {
                    d.bot_messages += 1;
                    if let Some(ms) = m.response_time_ms {
                        d.bot_response_ms_sum += i64::try_from(ms).unwrap_or(i64::MAX);
                        d.bot_responses += 1;
                    }
                }
            },
            Payload::CtaClicked(_) => d.cta_clicks += 1,
            Payload::ContactSubmitted(_) => d.contact_requests += 1,
            Payload::ConversationRated(r) => {
                d.ratings_sum += i64::from(r.rating);
                d.ratings_count += 1;
            }
            _ => {}
        }
    }
    days.retain(|_, d| *d != DailyDelta::default());
    days
}

/// Who the visitor behind a visitor-side event is, for unique visitors: ingest's daily-salted
/// hash (of the customer id when the client named one, else of the browser), else — events
/// from before ingest hashed — the customer id, else the conversation.
pub fn visitor(event: &Event) -> Option<String> {
    if event.event_type().producer() != Producer::Client {
        return None;
    }
    // An admin closing a conversation is not the visitor coming back.
    if let Payload::ConversationClosed(c) = &event.payload
        && c.reason == CloseReason::Admin
    {
        return None;
    }
    let customer = match &event.payload {
        Payload::WidgetLoaded(p) => p.customer_id.as_deref(),
        Payload::ConversationStarted(p) => p.customer_id.as_deref(),
        Payload::MessageSent(p) => p.customer_id.as_deref(),
        Payload::CtaClicked(p) => p.customer_id.as_deref(),
        _ => None,
    };
    Some(match (&event.context.visitor, customer) {
        (Some(v), _) => format!("visitor:{v}"),
        (None, Some(c)) => format!("customer:{c}"),
        (None, None) => format!("conversation:{}", event.conversation_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::{at, message, widget_loaded};

    #[test]
    fn events_are_counted_on_their_day_by_kind() {
        let events = [
            widget_loaded("c1", at(0)),
            message("c1", Sender::User, at(1)),
            message("c1", Sender::Bot, at(2)),
        ];
        let days = fold(events.iter());
        let d = &days[&("demo".to_owned(), day(at(0)))];
        assert_eq!((d.widget_loads, d.user_messages, d.bot_messages), (1, 1, 1));
    }

    #[test]
    fn events_on_different_days_land_on_different_rows() {
        let events = [widget_loaded("c1", at(0)), widget_loaded("c2", at(86_400))];
        assert_eq!(fold(events.iter()).len(), 2);
    }

    #[test]
    fn a_visitor_is_the_customer_when_known_else_the_conversation() {
        assert_eq!(
            visitor(&widget_loaded("c1", at(0))).as_deref(),
            Some("conversation:c1")
        );
        let mut hashed = widget_loaded("c2", at(0));
        hashed.context.visitor = Some("9f2c".into());
        assert_eq!(visitor(&hashed).as_deref(), Some("visitor:9f2c"));
    }
}
