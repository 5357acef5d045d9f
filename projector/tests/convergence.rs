//! Property: any order and any batching of the same events gives the same read models, table
//! by table, row by row. Random mixes of every event kind the projector folds, across several
//! conversations, with retried records and event ids reused across conversations, applied in
//! random orders and random batch sizes. Seeds are fixed so a
//! failure reproduces; `COLLOQUY_PROPERTY_CASES` runs more of them.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use chrono::{DateTime, TimeZone, Utc};
use projector::projections::contacts::{email_key, phone_key};
use projector::store::{Applied, Derive, apply, derive_all};
use schemas::payloads::{
    CloseReason, ContactErased, ContactRequestStatusChanged, ContactSubmitted, ContactUpdated,
    ContactsMerged, ConversationClosed, ConversationRated, ConversationStarted, CtaClicked,
    LeadStatus, MessageRef, MessageSent, Producer, RequestStatus, WidgetLoaded,
};
use schemas::{Event, Payload, Sender};

mod common;
use common::{every_row, fresh_pool};

/// Every read-model table whose content must not depend on order.
const TABLES: [&str; 17] = [
    "conversations",
    "conversation_closes",
    "website_time_zones",
    "contacts",
    "contact_identities",
    "contact_observations",
    "contact_edits",
    "messages",
    "cta_clicks",
    "contact_requests",
    "contact_request_changes",
    "message_flags",
    "started_quarters",
    "visits",
    "visitor_quarters",
    "retention_cutoffs",
    "erased_customers",
];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn at(seconds: u64) -> DateTime<Utc> {
    // Two days' worth of spread, so quarter hours and moves of a conversation's start are
    // exercised.
    Utc.timestamp_opt(1_790_000_000 + seconds as i64, 0)
        .single()
        .unwrap()
}

fn random_events(rng: &mut Rng, n: usize) -> Vec<Event> {
    let statuses = [
        RequestStatus::Pending,
        RequestStatus::Contacted,
        RequestStatus::Resolved,
    ];
    let mut events: Vec<Event> = (0..n)
        .map(|_| {
            let conversation = format!("c{}", rng.below(4));
            let when = at(rng.below(2 * 86_400));
            let request = format!("r{}", rng.below(3));
            let message_ref = format!("m{}", rng.below(5));
            let mode = rng.below(3);
            // Two addresses and two phones, so submissions link and split contacts.
            let emails = ["a@example.com", "b@example.com"];
            let phones = ["+1 555 0101", "+1 555 0202"];
            let keys = [
                email_key("site", emails[0]),
                email_key("site", emails[1]),
                phone_key("site", phones[0]),
                phone_key("site", phones[1]),
            ];
            let payload = match rng.below(14) {
                0 => Payload::WidgetLoaded(WidgetLoaded::default()),
                1 => Payload::ConversationStarted(ConversationStarted {
                    customer_id: Some(format!("u{}", rng.below(3))),
                }),
                2 | 3 => Payload::MessageSent(MessageSent {
                    message_id: Some(message_ref),
                    customer_id: ["cust-a", "cust-b"]
                        .get(rng.below(4) as usize)
                        .map(|c| (*c).to_owned()),
                    sender: [Sender::User, Sender::Bot, Sender::Agent][rng.below(3) as usize]
                        .into(),
                    text: "hi".into(),
                    response_time_ms: Some(rng.below(2_000)),
                    confidence_score: None,
                    requires_human: rng.below(4) == 0,
                }),
                4 => Payload::CtaClicked(CtaClicked {
                    cta_id: None,
                    customer_id: None,
                    label: "Go".into(),
                    value: None,
                }),
                5 => Payload::ConversationRated(ConversationRated {
                    rating: 1 + rng.below(5) as u8,
                    comment: None,
                }),
                6 => Payload::ConversationClosed(ConversationClosed {
                    reason: CloseReason::User,
                }),
                7 => Payload::ContactSubmitted(ContactSubmitted {
                    request_id: Some(request),
                    name: Some(format!("name {}", rng.below(3))),
                    // An e-mail, a phone, or both (`mode` 0, 1, 2).
                    email: (mode != 1).then(|| emails[rng.below(2) as usize].into()),
                    phone: (mode != 0).then(|| phones[rng.below(2) as usize].into()),
                    message: None,
                    chat_context: vec![],
                }),
                8 => Payload::ContactRequestStatusChanged(ContactRequestStatusChanged {
                    request_id: request,
                    status: statuses[rng.below(3) as usize],
                    expected_status: statuses[rng.below(3) as usize],
                    notes: None,
                }),
                10 => Payload::ContactUpdated(ContactUpdated {
                    contact_id: keys[rng.below(4) as usize].clone(),
                    name: Some(format!("edited {}", rng.below(3))),
                    email: None,
                    phone: None,
                    notes: Some(format!("note {}", rng.below(3))),
                    lead_status: Some(
                        [LeadStatus::FollowUp, LeadStatus::Archived][rng.below(2) as usize],
                    ),
                }),
                11 => {
                    let (survivor, merged) = (
                        keys[rng.below(4) as usize].clone(),
                        keys[rng.below(4) as usize].clone(),
                    );
                    if survivor == merged {
                        Payload::ContactErased(ContactErased {
                            contact_id: survivor,
                        })
                    } else {
                        Payload::ContactsMerged(ContactsMerged {
                            surviving_contact_id: survivor,
                            merged_contact_ids: vec![merged],
                        })
                    }
                }
                12 if rng.below(2) == 0 => {
                    Payload::RetentionApplied(schemas::payloads::RetentionApplied {
                        website_id: "site".into(),
                        before: at(rng.below(2 * 86_400)),
                    })
                }
                12 => Payload::CustomerErased(schemas::payloads::CustomerErased {
                    customer_key: schemas::contact_keys::customer_key("site", "cust-a"),
                }),
                _ if rng.below(2) == 0 => Payload::MessageFlaggedForHuman(MessageRef {
                    message_id: message_ref,
                }),
                _ => Payload::MessageHumanReplied(MessageRef {
                    message_id: message_ref,
                }),
            };
            schemas::testing::event("site", &conversation, when, payload)
        })
        .collect();
    // What clients get wrong: a retry delivers an event again, and a buggy client reuses an
    // event id in another conversation, where it names a different event. (Admin events get
    // their ids from query-api, never from a client. Two different events with one id in the
    // same conversation are not made: the shuffle below would reorder them, which their
    // partition never does.)
    let client = |e: &Event| e.event_type().producer() == Producer::Client;
    for i in 1..n {
        let earlier = rng.below(i as u64) as usize;
        let id = events[earlier].event_id;
        let conversation = &events[i].conversation_id;
        match rng.below(8) {
            0 => events.push(events[earlier].clone()),
            1 if client(&events[i])
                && client(&events[earlier])
                && !events
                    .iter()
                    .any(|e| e.event_id == id && &e.conversation_id == conversation) =>
            {
                events[i].event_id = id;
            }
            _ => {}
        }
    }
    events
}

/// Applies `events` in `order`, in random batch sizes. With [`Derive::Later`] (as a rebuild's
/// bulk phase does), derived read models are brought up to date once at the end.
async fn apply_in(order: &[usize], events: &[Event], rng: &mut Rng, derive: Derive) -> Vec<String> {
    let pool = fresh_pool().await;
    let mut offset = 0i64;
    let mut rest = order;
    while !rest.is_empty() {
        let size = (1 + rng.below(6) as usize).min(rest.len());
        let (batch, tail) = rest.split_at(size);
        let applied: Vec<Applied> = batch
            .iter()
            .map(|&i| {
                offset += 1;
                Applied {
                    partition: 0,
                    offset,
                    event: events[i].clone(),
                }
            })
            .collect();
        apply(&pool, "t", &applied, &[(0, offset + 1)], derive)
            .await
            .unwrap();
        rest = tail;
    }
    if derive == Derive::Later {
        derive_all(&pool).await.unwrap();
    }
    every_row(&pool, &TABLES).await
}

#[tokio::test]
async fn any_order_and_batching_of_random_event_mixes_gives_the_same_tables() {
    let cases: u64 = std::env::var("COLLOQUY_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for seed in 1..=cases {
        let mut rng = Rng(seed);
        let events = random_events(&mut rng, 40);
        let mut reference: Option<Vec<String>> = None;
        // The third order derives once at the end, as a rebuild does: the same tables.
        for derive in [Derive::Now, Derive::Now, Derive::Later] {
            let mut order: Vec<usize> = (0..events.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let tables = apply_in(&order, &events, &mut rng, derive).await;
            match &reference {
                None => reference = Some(tables),
                Some(expected) => {
                    let differing: Vec<_> = expected
                        .iter()
                        .zip(&tables)
                        .filter(|(a, b)| a != b)
                        .take(3)
                        .collect();
                    assert!(
                        expected == &tables,
                        "seed {seed}: tables differ between orders; first differences: {differing:#?}"
                    );
                }
            }
        }
    }
}
