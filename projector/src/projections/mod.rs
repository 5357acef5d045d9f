//! Projections: pure functions from events to read-model changes. No I/O here, so every rule
//! is unit-tested with plain values; `store` turns the changes into SQL.
//!
//! Each function sees only events that were never applied before (the event log filters
//! re-deliveries), and its output merges commutatively with what is stored, so partitions can
//! interleave in any order.

pub mod closes;
pub mod contact_requests;
pub mod contacts;
pub mod conversations;
pub mod cta_clicks;
pub mod language;
pub mod message_flags;
pub mod messages;
pub mod priorities;
pub mod webhooks;
pub mod websites;

use schemas::Event;

pub use contact_requests::{NewContactRequest, StatusChange};
pub use conversations::ConversationDelta;
pub use cta_clicks::NewCtaClick;
pub use messages::NewMessage;
pub use websites::NewWebsite;

/// Everything one batch of new events changes.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub conversations: Vec<ConversationDelta>,
    pub messages: Vec<NewMessage>,
    pub cta_clicks: Vec<NewCtaClick>,
    pub closes: Vec<closes::NewClose>,
    pub contact_requests: Vec<NewContactRequest>,
    pub status_changes: Vec<StatusChange>,
    pub message_flags: Vec<message_flags::MessageFlag>,
    pub priorities: Vec<priorities::PriorityChange>,
    pub websites: Vec<NewWebsite>,
    pub tokens: Vec<websites::NewToken>,
    pub token_revocations: Vec<websites::TokenRevocation>,
    pub privacy: Vec<websites::PrivacyChange>,
    pub reports: Vec<websites::ReportsChange>,
    pub time_zones: Vec<websites::TimeZoneChange>,
    pub bot_settings: Vec<websites::BotSettingsChange>,
    pub lead_keywords: Vec<websites::LeadKeywordsChange>,
    pub retention: Vec<websites::RetentionCutoff>,
    /// Every `customer.erased`.
    pub erased_customers: Vec<ErasedCustomer>,
    /// The customer of every event that named one.
    pub conversation_customers: Vec<ConversationCustomer>,
    pub contacts: contacts::ContactChanges,
    pub webhook_endpoints: Vec<webhooks::EndpointChange>,
    /// What may be sent to webhook endpoints (only the live projector sends).
    pub webhook_triggers: Vec<webhooks::Trigger>,
}

pub fn changes<'a>(events: impl IntoIterator<Item = &'a Event> + Clone) -> Changes {
    Changes {
        conversations: conversations::fold(events.clone()),
        messages: rows(events.clone(), NewMessage::from_event),
        cta_clicks: rows(events.clone(), NewCtaClick::from_event),
        closes: rows(events.clone(), closes::NewClose::from_event),
        contact_requests: rows(events.clone(), NewContactRequest::from_event),
        status_changes: rows(events.clone(), StatusChange::from_event),
        message_flags: rows(events.clone(), message_flags::MessageFlag::from_event),
        priorities: rows(events.clone(), priorities::PriorityChange::from_event),
        websites: rows(events.clone(), NewWebsite::from_event),
        tokens: rows(events.clone(), websites::NewToken::from_event),
        token_revocations: rows(events.clone(), websites::TokenRevocation::from_event),
        privacy: rows(events.clone(), websites::PrivacyChange::from_event),
        reports: rows(events.clone(), websites::ReportsChange::from_event),
        time_zones: rows(events.clone(), websites::TimeZoneChange::from_event),
        bot_settings: rows(events.clone(), websites::BotSettingsChange::from_event),
        lead_keywords: rows(events.clone(), websites::LeadKeywordsChange::from_event),
        retention: rows(events.clone(), websites::RetentionCutoff::from_event),
        conversation_customers: rows(events.clone(), |e| {
            // An event whose customer id was erased still names its customer's key.
            conversations::customer_of(e)
                .map(|c| schemas::contact_keys::customer_key(&e.website_id, &c))
                .or_else(|| e.context.pseudonyms.customer.clone())
                .map(|customer_key| ConversationCustomer {
                    website_id: e.website_id.clone(),
                    conversation_id: e.conversation_id.clone(),
                    customer_key,
                })
        }),
        erased_customers: rows(events.clone(), |e| match &e.payload {
            schemas::Payload::CustomerErased(c) => Some(ErasedCustomer {
                website_id: e.website_id.clone(),
                customer_key: c.customer_key.clone(),
            }),
            _ => None,
        }),
        webhook_endpoints: rows(events.clone(), webhooks::EndpointChange::from_event),
        webhook_triggers: rows(events.clone(), webhooks::Trigger::from_event),
        contacts: contacts::fold(events),
    }
}

/// A customer erased by `customer.erased`, by key (the id itself may be gone).
#[derive(Debug, Clone, PartialEq)]
pub struct ErasedCustomer {
    pub website_id: String,
    pub customer_key: String,
}

/// A conversation's customer, by key: what erasing the customer reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationCustomer {
    pub website_id: String,
    pub conversation_id: String,
    pub customer_key: String,
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
