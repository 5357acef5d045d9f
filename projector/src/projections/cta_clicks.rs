//! The `cta_clicks` read model: one row per `cta.clicked`.

use chrono::{DateTime, Utc};
use schemas::{Event, Payload};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct NewCtaClick {
    pub event_id: Uuid,
    pub website_id: String,
    pub conversation_id: String,
    pub cta_id: Option<String>,
    pub label: String,
    pub value: Option<String>,
    pub customer_id: Option<String>,
    pub clicked_at: DateTime<Utc>,
}

impl NewCtaClick {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::CtaClicked(c) = &event.payload else {
            return None;
        };
        Some(Self {
            event_id: event.event_id,
            website_id: event.website_id.clone(),
            conversation_id: event.conversation_id.clone(),
            cta_id: c.cta_id.clone(),
            label: c.label.clone(),
            value: c.value.clone(),
            customer_id: c.customer_id.clone(),
            clicked_at: event.occurred_at,
        })
    }
}
