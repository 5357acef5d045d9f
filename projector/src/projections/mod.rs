//! Projections: pure functions from events to read-model changes. No I/O here, so every rule
//! is unit-tested with plain values; `store` turns the changes into SQL.
//!
//! Each function sees only events that were never applied before (the event log filters
//! re-deliveries), and its output merges commutatively with what is stored, so partitions can
//! interleave in any order.

pub mod contact_requests;
pub mod contacts;
pub mod conversations;
pub mod cta_clicks;
pub mod message_flags;
pub mod messages;
pub mod websites;

use schemas::Event;

pub use contact_requests::{ContactRequestRow, StatusChange};
pub use conversations::ConversationDelta;
pub use cta_clicks::CtaClickRow;
pub use messages::MessageRow;
pub use websites::WebsiteRow;

/// Everything one batch of new events changes.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub conversations: Vec<ConversationDelta>,
    pub messages: Vec<MessageRow>,
    pub cta_clicks: Vec<CtaClickRow>,
    pub contact_requests: Vec<ContactRequestRow>,
    pub status_changes: Vec<StatusChange>,
    pub message_flags: Vec<message_flags::MessageFlag>,
    pub websites: Vec<WebsiteRow>,
    pub tokens: Vec<websites::TokenRow>,
    pub token_revocations: Vec<(String, chrono::DateTime<chrono::Utc>, uuid::Uuid)>,
    pub privacy: Vec<websites::PrivacyRow>,
    pub reports: Vec<websites::ReportsRow>,
    pub time_zones: Vec<websites::TimeZoneRow>,
    pub retention: Vec<(String, chrono::DateTime<chrono::Utc>)>,
    /// `(website_id, customer_key)` of every `customer.erased`.
    pub erased_customers: Vec<(String, String)>,
    /// `(website_id, conversation_id, customer_key)` of every event that named a customer.
    pub conversation_customers: Vec<(String, String, String)>,
    pub contacts: contacts::ContactChanges,
}

pub fn changes<'a>(events: impl IntoIterator<Item = &'a Event> + Clone) -> Changes {
    Changes {
        conversations: conversations::fold(events.clone()),
        messages: rows(events.clone(), MessageRow::from_event),
        cta_clicks: rows(events.clone(), CtaClickRow::from_event),
        contact_requests: rows(events.clone(), ContactRequestRow::from_event),
        status_changes: rows(events.clone(), StatusChange::from_event),
        message_flags: rows(events.clone(), message_flags::MessageFlag::from_event),
        websites: rows(events.clone(), WebsiteRow::from_event),
        tokens: rows(events.clone(), websites::TokenRow::from_event),
        token_revocations: rows(events.clone(), websites::token_revocation),
        privacy: rows(events.clone(), websites::PrivacyRow::from_event),
        reports: rows(events.clone(), websites::ReportsRow::from_event),
        time_zones: rows(events.clone(), websites::TimeZoneRow::from_event),
        retention: rows(events.clone(), websites::retention_cutoff),
        conversation_customers: rows(events.clone(), |e| {
            // An event whose customer id was erased still names its customer's key.
            conversations::customer_of(e)
                .map(|c| schemas::contact_keys::customer_key(&e.website_id, &c))
                .or_else(|| e.context.pseudonyms.customer.clone())
                .map(|key| (e.website_id.clone(), e.conversation_id.clone(), key))
        }),
        erased_customers: rows(events.clone(), |e| match &e.payload {
            schemas::Payload::CustomerErased(c) => {
                Some((e.website_id.clone(), c.customer_key.clone()))
            }
            _ => None,
        }),
        contacts: contacts::fold(events),
    }
}

/// The rows a per-event projection makes of `events`.
fn rows<'a, T>(
    events: impl IntoIterator<Item = &'a Event>,
    row: fn(&Event) -> Option<T>,
) -> Vec<T> {
    events.into_iter().filter_map(row).collect()
}

/// Builders for given/when/then tests: the shared ones, on website `demo`.
#[cfg(test)]
pub(crate) mod tests {
    use chrono::{DateTime, Utc};
    use schemas::{Event, Payload, Sender};

    pub use schemas::testing::at;

    pub fn event(conversation: &str, occurred_at: DateTime<Utc>, payload: Payload) -> Event {
        schemas::testing::event("demo", conversation, occurred_at, payload)
    }

    pub fn widget_loaded(conversation: &str, occurred_at: DateTime<Utc>) -> Event {
        schemas::testing::widget_loaded("demo", conversation, occurred_at)
    }

    pub fn message(conversation: &str, sender: Sender, occurred_at: DateTime<Utc>) -> Event {
        schemas::testing::message(
            "demo",
            conversation,
            occurred_at,
            sender,
            &format!("{} says hi", sender.as_str()),
        )
    }
}
