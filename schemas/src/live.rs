//! The live feed: what the live projector announces as it commits a batch, and what
//! query-api's `GET /v1/stream` passes on to dashboards as server-sent events.
//!
//! The projector sends it with Postgres `NOTIFY` on [`CHANNEL`] inside the batch's
//! transaction, so a change is announced exactly when it becomes readable, and never for a
//! batch that rolled back. It carries ids, never what a person wrote: a dashboard reads the
//! rest through the API, with its own token's scope. Rebuilds announce nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Event, Payload};

/// The `LISTEN`/`NOTIFY` channel.
pub const CHANNEL: &str = "colloquy_live";

/// Postgres refuses a `NOTIFY` payload of 8,000 bytes or more; one change is about 250.
const MAX_PAYLOAD: usize = 7_500;

/// One applied event a dashboard shows as it happens: a conversation starting or changing, a
/// message, a contact request or a change of its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The event's type (`message.sent`, `contact.submitted`, ...); the stream's event name.
    #[serde(rename = "type")]
    pub event_type: String,
    pub event_id: Uuid,
    pub website_id: String,
    pub conversation_id: String,
    pub occurred_at: DateTime<Utc>,
    /// The contact request a submission made or a status change moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A request's new status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl Change {
    /// What the feed says of `event`; `None` for the types a dashboard does not follow live
    /// (website settings, tokens, contact edits, erasures, retention).
    pub fn of(event: &Event) -> Option<Change> {
        let (request_id, status) = match &event.payload {
            Payload::WidgetLoaded(_)
            | Payload::ConversationStarted(_)
            | Payload::MessageSent(_)
            | Payload::CtaClicked(_)
            | Payload::ConversationRated(_)
            | Payload::ConversationClosed(_)
            | Payload::MessageFlaggedForHuman(_)
            | Payload::MessageHumanReplied(_)
            | Payload::ConversationPriorityChanged(_)
            | Payload::ContactIdentified(_) => (None, None),
            Payload::ContactSubmitted(c) => (c.request_id.clone(), None),
            Payload::ContactRequestStatusChanged(c) => (
                Some(c.request_id.clone()),
                Some(c.status.as_str().to_owned()),
            ),
            _ => return None,
        };
        Some(Change {
            event_type: event.event_type().name().to_owned(),
            event_id: event.event_id,
            website_id: event.website_id.clone(),
            conversation_id: event.conversation_id.clone(),
            occurred_at: event.occurred_at,
            request_id,
            status,
        })
    }
}

/// `changes` as `NOTIFY` payloads: JSON arrays, each small enough for Postgres.
pub fn payloads(changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::from("[");
    for change in changes {
        let item = serde_json::to_string(change).expect("a change serialises");
        if current.len() > 1 && current.len() + item.len() + 2 > MAX_PAYLOAD {
            current.push(']');
            out.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(&item);
    }
    if current.len() > 1 {
        current.push(']');
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sender;
    use crate::testing::{at, message};

    #[test]
    fn a_large_batch_is_split_into_payloads_postgres_accepts_and_nothing_is_lost() {
        let changes: Vec<Change> = (0..500)
            .map(|i| {
                Change::of(&message(
                    "site",
                    &format!("c{i}"),
                    at(i),
                    Sender::User,
                    "hi",
                ))
                .expect("messages are followed")
            })
            .collect();
        let payloads = payloads(&changes);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let back: Vec<Change> = payloads
            .iter()
            .flat_map(|p| serde_json::from_str::<Vec<Change>>(p).unwrap())
            .collect();
        assert_eq!(back, changes);
        assert!(super::payloads(&[]).is_empty());
    }

    #[test]
    fn a_change_carries_ids_not_what_the_person_wrote() {
        let change = Change::of(&message("site", "c1", at(0), Sender::User, "my secret")).unwrap();
        let json = serde_json::to_string(&change).unwrap();
        assert!(!json.contains("my secret"), "{json}");
        assert_eq!(change.event_type, "message.sent");
    }
}
