//! The `contact_requests` read model: every contact form submission, and its status as admins
//! move it `pending → contacted → resolved`.
//!
//! Status changes carry the status the admin saw (`expected_status`). They do not commute, so
//! a request's status is not merged but re-folded from all of its changes, in
//! `(occurred_at, event_id)` order, whenever a change or the request itself arrives. Whatever
//! order the events are applied in, the result is the same; a change that arrives before its
//! request waits for it.

use chrono::{DateTime, Utc};
use schemas::payloads::RequestStatus;
use schemas::{Event, Payload};
use serde_json::Value;
use uuid::Uuid;

/// A submission, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContactRequest {
    pub website_id: String,
    pub request_id: String,
    pub conversation_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub message: Option<String>,
    pub chat_context: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When ingest received it: what decides which submission a request id belongs to.
    pub received_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl NewContactRequest {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::ContactSubmitted(c) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: event.website_id.clone(),
            // Ingest always assigns one; the event id is the same value when it did.
            request_id: c
                .request_id
                .clone()
                .unwrap_or_else(|| event.event_id.to_string()),
            conversation_id: event.conversation_id.clone(),
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            message: c.message.clone(),
            chat_context: serde_json::to_value(&c.chat_context).unwrap_or(Value::Null),
            ip: event.context.ip.map(|ip| ip.to_string()),
            user_agent: event.context.user_agent.clone(),
            created_at: event.occurred_at,
            received_at: event.received_at,
            event_id: event.event_id,
        })
    }
}

/// The id of the request a conversation's submissions naming `request_id` make when another
/// conversation holds that id: the same for every submission of that conversation, in any
/// order, and no client can choose it.
pub fn own_request_id(website_id: &str, request_id: &str, conversation_id: &str) -> String {
    let name = format!("{website_id}\n{request_id}\n{conversation_id}");
    Uuid::new_v5(&OWN_REQUEST_NAMESPACE, name.as_bytes()).to_string()
}

const OWN_REQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x4a9e_27d3_b15c_4f80_8e6a_d2c7_19f4_053b);

/// One status change, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub event_id: Uuid,
    pub website_id: String,
    pub request_id: String,
    pub status: RequestStatus,
    pub expected_status: RequestStatus,
    pub notes: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The token that made it ([`schemas::Context::actor`]).
    pub actor: Option<String>,
}

impl StatusChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::ContactRequestStatusChanged(c) = &event.payload else {
            return None;
        };
        Some(Self {
            event_id: event.event_id,
            website_id: event.website_id.clone(),
            request_id: c.request_id.clone(),
            status: c.status,
            expected_status: c.expected_status,
            notes: c.notes.clone(),
            occurred_at: event.occurred_at,
            actor: event.context.actor.clone(),
        })
    }
}

/// The moves an admin may make: forward, or reopening a resolved request.
pub fn is_legal(from: RequestStatus, to: RequestStatus) -> bool {
    from.can_move_to(to)
}

pub fn status_name(status: RequestStatus) -> &'static str {
    status.as_str()
}

/// A request's state after all of its changes.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestState {
    pub status: RequestStatus,
    pub notes: Option<String>,
    pub contacted_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Per change: `None` when applied, else why it was rejected.
    pub outcomes: Vec<(Uuid, Option<String>)>,
}

/// Folds `changes` (in any order) from `pending`: sorted by `(occurred_at, event_id)`, each is
/// applied when the status it expected is the current one and the move is legal.
pub fn fold_status(changes: &[StatusChange]) -> RequestState {
    let mut sorted: Vec<&StatusChange> = changes.iter().collect();
    sorted.sort_by_key(|c| (c.occurred_at, c.event_id));
    let mut state = RequestState {
        status: RequestStatus::Pending,
        notes: None,
        contacted_at: None,
        resolved_at: None,
        outcomes: Vec::with_capacity(sorted.len()),
    };
    for change in sorted {
        let rejection = if change.expected_status != state.status {
            Some(format!(
                "stale: expected {} but the request was {}",
                status_name(change.expected_status),
                status_name(state.status)
            ))
        } else if !is_legal(state.status, change.status) {
            Some(format!(
                "illegal move from {} to {}",
                status_name(state.status),
                status_name(change.status)
            ))
        } else {
            None
        };
        if rejection.is_none() {
            state.status = change.status;
            if change.notes.is_some() {
                state.notes.clone_from(&change.notes);
            }
            match change.status {
                RequestStatus::Contacted => state.contacted_at = Some(change.occurred_at),
                RequestStatus::Resolved => state.resolved_at = Some(change.occurred_at),
                RequestStatus::Pending => state.resolved_at = None,
            }
        }
        state.outcomes.push((change.event_id, rejection));
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::at;
    use RequestStatus::*;

    fn change(seconds: i64, expected: RequestStatus, status: RequestStatus) -> StatusChange {
        StatusChange {
            event_id: Uuid::new_v4(),
            website_id: "demo".into(),
            request_id: "r1".into(),
            status,
            expected_status: expected,
            notes: Some(format!("at {seconds}")),
            occurred_at: at(seconds),
            actor: None,
        }
    }

    #[test]
    fn a_request_moves_pending_contacted_resolved() {
        let state = fold_status(&[
            change(1, Pending, Contacted),
            change(2, Contacted, Resolved),
        ]);
        assert_eq!(
            (state.status, state.contacted_at, state.resolved_at),
            (Resolved, Some(at(1)), Some(at(2)))
        );
        assert_eq!(state.notes.as_deref(), Some("at 2"));
        assert!(state.outcomes.iter().all(|(_, r)| r.is_none()));
    }

    #[test]
    fn of_two_admins_who_saw_pending_the_later_one_is_rejected_as_stale() {
        let first = change(1, Pending, Contacted);
        let second = change(2, Pending, Resolved);
        let state = fold_status(&[second.clone(), first.clone()]);
        assert_eq!(state.status, Contacted);
        let rejected = state
            .outcomes
            .iter()
            .find(|(id, _)| *id == second.event_id)
            .unwrap();
        assert_eq!(
            rejected.1.as_deref(),
            Some("stale: expected pending but the request was contacted")
        );
    }

    #[test]
    fn an_illegal_move_is_rejected() {
        let state = fold_status(&[change(1, Pending, Contacted), change(2, Contacted, Pending)]);
        assert_eq!(state.status, Contacted);
        assert_eq!(
            state.outcomes[1].1.as_deref(),
            Some("illegal move from contacted to pending")
        );
    }

    #[test]
    fn the_order_changes_arrive_in_does_not_matter() {
        let changes = [
            change(1, Pending, Resolved),
            change(2, Resolved, Pending),
            change(3, Pending, Contacted),
        ];
        let mut reversed = changes.clone();
        reversed.reverse();
        assert_eq!(fold_status(&changes), fold_status(&reversed));
        assert_eq!(fold_status(&changes).status, Contacted);
    }

    #[test]
    fn a_request_of_its_own_has_one_id_per_website_request_and_conversation() {
        let id = own_request_id("demo", "r1", "c2");
        assert_eq!(id, own_request_id("demo", "r1", "c2"));
        let others = [
            own_request_id("demo", "r1", "c3"),
            own_request_id("demo", "r2", "c2"),
            own_request_id("shop", "r1", "c2"),
            // The parts cannot be shifted into each other.
            own_request_id("demo", "r1\nc2", ""),
        ];
        assert!(others.iter().all(|other| *other != id), "{others:?}");
        assert!(Uuid::parse_str(&id).is_ok());
    }
}
