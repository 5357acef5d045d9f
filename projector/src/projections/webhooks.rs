//! Outgoing webhooks: the endpoints admins registered (a read model like any other), and what in
//! a batch of new events may be worth a delivery. Which deliveries it makes is decided by
//! `store::webhooks::enqueue` from the read models, after the batch's writes (docs/webhooks.md).

use chrono::{DateTime, Utc};
use schemas::{Event, Payload};
use uuid::Uuid;

use super::NewContactRequest;

/// An endpoint as of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointChange {
    pub endpoint_id: Uuid,
    pub website_id: String,
    pub url: String,
    pub kinds: Vec<String>,
    pub channel: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub deleted: bool,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl EndpointChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebhookEndpointChanged(w) = &event.payload else {
            return None;
        };
        Some(Self {
            // The query API makes it a UUID; another id names no endpoint.
            endpoint_id: w.endpoint_id.parse().ok()?,
            website_id: w.website_id.clone(),
            url: w.url.clone(),
            kinds: w.kinds.clone(),
            channel: w.channel.clone(),
            description: w.description.clone(),
            enabled: w.enabled,
            deleted: w.deleted,
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// Something that happened in a batch that may be sent, before the read models say to whom and
/// as what.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub website_id: String,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A contact form (a request, and a contact created or updated) or an identification (a
    /// contact created or updated, no request).
    Submitted {
        conversation_id: String,
        request_id: Option<String>,
    },
    /// An admin edited the contact (any of its ids).
    ContactEdited {
        contact_id: String,
    },
    /// An admin merged contacts into `surviving`.
    ContactsMerged {
        surviving: String,
        merged: Vec<String>,
    },
    ContactErased {
        contact_id: String,
    },
    /// An admin moved a request (sent only when the move was applied).
    RequestStatusChanged {
        request_id: String,
    },
    ConversationClosed {
        conversation_id: String,
    },
    ConversationRated {
        conversation_id: String,
    },
    /// Something that may have handed the conversation to a human.
    MaybeHandedOff {
        conversation_id: String,
    },
}

impl Trigger {
    pub fn from_event(event: &Event) -> Option<Self> {
        let conversation_id = || event.conversation_id.clone();
        let what = match &event.payload {
            Payload::ContactSubmitted(_) => What::Submitted {
                conversation_id: conversation_id(),
                request_id: Some(NewContactRequest::from_event(event)?.request_id),
            },
            Payload::ContactIdentified(_) => What::Submitted {
                conversation_id: conversation_id(),
                request_id: None,
            },
            Payload::ContactUpdated(c) => What::ContactEdited {
                contact_id: c.contact_id.clone(),
            },
            Payload::ContactsMerged(m) => What::ContactsMerged {
                surviving: m.surviving_contact_id.clone(),
                merged: m.merged_contact_ids.clone(),
            },
            Payload::ContactErased(c) => What::ContactErased {
                contact_id: c.contact_id.clone(),
            },
            Payload::ContactRequestStatusChanged(c) => What::RequestStatusChanged {
                request_id: c.request_id.clone(),
            },
            Payload::ConversationClosed(_) => What::ConversationClosed {
                conversation_id: conversation_id(),
            },
            Payload::ConversationRated(_) => What::ConversationRated {
                conversation_id: conversation_id(),
            },
            Payload::MessageSent(m) if m.requires_human => What::MaybeHandedOff {
                conversation_id: conversation_id(),
            },
            Payload::MessageFlaggedForHuman(_) => What::MaybeHandedOff {
                conversation_id: conversation_id(),
            },
            _ => return None,
        };
        Some(Self {
            website_id: event.website_id.clone(),
            event_id: event.event_id,
            occurred_at: event.occurred_at,
            what,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::{at, event, message};
    use schemas::Sender;
    use schemas::payloads::WebhookEndpoint;

    #[test]
    fn an_endpoint_change_needs_a_uuid_and_keeps_the_whole_endpoint() {
        let payload = |id: &str| {
            Payload::WebhookEndpointChanged(WebhookEndpoint {
                endpoint_id: id.into(),
                website_id: "demo".into(),
                url: "https://crm.example/hook".into(),
                kinds: vec!["contact.created".into()],
                channel: Some("web".into()),
                description: None,
                enabled: true,
                deleted: false,
            })
        };
        let id = Uuid::new_v4();
        let change = EndpointChange::from_event(&event("e", at(1), payload(&id.to_string())));
        let change = change.expect("a change");
        assert_eq!(
            (
                change.endpoint_id,
                change.channel.as_deref(),
                change.kinds.len()
            ),
            (id, Some("web"), 1)
        );
        assert_eq!(
            EndpointChange::from_event(&event("e", at(1), payload("not-a-uuid"))),
            None
        );
    }

    #[test]
    fn only_a_message_that_asks_for_a_human_may_hand_off() {
        let plain = message("c1", Sender::User, at(1));
        assert_eq!(Trigger::from_event(&plain), None);
        let mut asking = plain.clone();
        if let Payload::MessageSent(m) = &mut asking.payload {
            m.requires_human = true;
        }
        assert_eq!(
            Trigger::from_event(&asking).map(|t| t.what),
            Some(What::MaybeHandedOff {
                conversation_id: "c1".into()
            })
        );
    }
}
