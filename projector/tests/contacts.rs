//! The contacts read model against a real Postgres: matching, admin edits and merges, the links
//! from conversations and requests, and erasure.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use projector::projections::contacts::{email_key, phone_key};
use schemas::payloads::{
    ChatLine, ContactErased, ContactIdentified, ContactSubmitted, ContactUpdated, ContactsMerged,
    ConversationRated, LeadStatus,
};
use schemas::testing::at;
use schemas::{Event, Payload, Sender};
use serde_json::Value;
use sqlx::PgPool;

mod common;
use common::{
    all_tables, apply_one_at_a_time, apply_side_by_side, every_read_model_row, every_row,
    fresh_pool, on_partition,
};
use projector::store::apply_batch;

fn event(conversation: &str, seconds: i64, payload: Payload) -> Event {
    schemas::testing::event("site", conversation, at(seconds), payload)
}

fn submitted(conversation: &str, seconds: i64, email: Option<&str>, phone: Option<&str>) -> Event {
    let mut e = event(
        conversation,
        seconds,
        Payload::ContactSubmitted(ContactSubmitted {
            request_id: Some(format!("req-{conversation}-{seconds}")),
            name: Some("Olivia Bennett".into()),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
            message: Some("Please call me back".into()),
            chat_context: vec![ChatLine {
                text: "What does the Pro plan cost?".into(),
                is_user: true,
                timestamp: None,
            }],
        }),
    );
    e.context.ip = Some("203.0.113.9".parse().unwrap());
    e.context.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64)".into());
    e
}

/// A visitor's message in `conversation`, naming the website's own `customer` id if given.
fn message(conversation: &str, seconds: i64, customer: Option<&str>) -> Event {
    let mut e = schemas::testing::message(
        "site",
        conversation,
        at(seconds),
        Sender::User,
        "my order number is 4411",
    );
    if let Payload::MessageSent(m) = &mut e.payload {
        m.customer_id = customer.map(Into::into);
    }
    e
}

fn admin(payload: Payload, seconds: i64) -> Event {
    event("", seconds, payload)
}

fn updated(contact: &str, seconds: i64, notes: Option<&str>, lead: Option<LeadStatus>) -> Event {
    admin(
        Payload::ContactUpdated(ContactUpdated {
            contact_id: contact.into(),
            name: None,
            email: None,
            phone: None,
            notes: notes.map(Into::into),
            lead_status: lead,
        }),
        seconds,
    )
}

fn merged(survivor: &str, merged: &str, seconds: i64) -> Event {
    admin(
        Payload::ContactsMerged(ContactsMerged {
            surviving_contact_id: survivor.into(),
            merged_contact_ids: vec![merged.into()],
        }),
        seconds,
    )
}

fn erased(contact: &str, seconds: i64) -> Event {
    admin(
        Payload::ContactErased(ContactErased {
            contact_id: contact.into(),
        }),
        seconds,
    )
}

/// The website's own systems name the visitor of `conversation` (a Segment `identify`).
fn identified(conversation: &str, seconds: i64, email: &str) -> Event {
    event(
        conversation,
        seconds,
        Payload::ContactIdentified(ContactIdentified {
            customer_id: Some("cust-grace".into()),
            name: Some("Grace Hopper".into()),
            email: Some(email.into()),
            phone: None,
        }),
    )
}

async fn contacts(pool: &PgPool) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(c) FROM contacts c ORDER BY contact_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn links(pool: &PgPool, table: &str, column: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(&format!(
        "SELECT {column}, contact_id FROM {table} ORDER BY {column}"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_submission_makes_a_contact_that_its_conversation_and_request_point_to() {
    let pool = fresh_pool().await;
    let s = submitted("c1", 10, Some("Olivia@LumoCo.dev"), Some("+1 555 0102"));
    apply_one_at_a_time(&pool, [&s]).await;

    let id = email_key("site", "olivia@lumoco.dev");
    let rows = contacts(&pool).await;
    assert_eq!(rows.len(), 1);
    let c = &rows[0];
    assert_eq!(c["contact_id"], id.as_str());
    assert_eq!(c["name"], "Olivia Bennett");
    assert_eq!(c["email"], "Olivia@LumoCo.dev");
    assert_eq!(c["phone"], "+1 555 0102");
    assert_eq!(c["channel"], "frame");
    assert_eq!(c["conversation_count"], 1);
    assert_eq!(c["request_count"], 1);
    assert_eq!(c["lead_status"], "new");
    assert_eq!(c["erased_at"], Value::Null);
    assert_eq!(
        links(&pool, "conversations", "conversation_id").await,
        [("c1".to_owned(), Some(id.clone()))]
    );
    assert_eq!(
        links(&pool, "contact_requests", "request_id").await,
        [("req-c1-10".to_owned(), Some(id))]
    );
}

#[tokio::test]
async fn an_identification_makes_a_contact_but_neither_a_request_nor_a_contact_conversation() {
    let id = email_key("site", "grace@navy.mil");
    let events = [
        message("c1", 5, None),
        identified("c1", 10, "grace@navy.mil"),
        // Later she fills in the form in another conversation.
        message("c2", 15, None),
        submitted("c2", 20, Some("Grace@Navy.mil"), None),
    ];
    let mut results = Vec::new();
    for order in [
        events.iter().collect::<Vec<_>>(),
        events.iter().rev().collect(),
    ] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order).await;
        let rows = contacts(&pool).await;
        assert_eq!(rows.len(), 1, "{rows:#?}");
        let c = &rows[0];
        assert_eq!(c["contact_id"], id.as_str());
        // Both conversations are hers; only the form is a request, and only its conversation
        // is a contact conversation (the conversion figures count forms, docs/statistics.md).
        assert_eq!(c["conversation_count"], 2, "{c:#}");
        assert_eq!(c["request_count"], 1, "{c:#}");
        assert_eq!(
            links(&pool, "conversations", "conversation_id").await,
            [("c1".to_owned(), None), ("c2".to_owned(), Some(id.clone()))]
        );
        // The website's id for her is the conversation's customer.
        let (customer,): (Option<String>,) =
            sqlx::query_as("SELECT customer_id FROM conversations WHERE conversation_id = 'c1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(customer.as_deref(), Some("cust-grace"));
        results.push(rows);
    }
    assert_eq!(results[0], results[1]);

    // Erasing her reaches what the website said of her too.
    let pool = fresh_pool().await;
    apply_one_at_a_time(&pool, events.iter().chain([&erased(&id, 30)])).await;
    let tables = all_tables(&pool).await;
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    let everything = every_row(&pool, &tables).await;
    for value in [
        "Grace Hopper",
        "grace@navy.mil",
        "Grace@Navy.mil",
        "cust-grace",
    ] {
        let found: Vec<_> = everything.iter().filter(|r| r.contains(value)).collect();
        assert!(found.is_empty(), "{value:?} still in {found:#?}");
    }
}

#[tokio::test]
async fn a_phone_only_contact_joins_the_one_that_brings_its_email_in_either_order() {
    let phone_only = submitted("c1", 10, None, Some("555-0102"));
    let both = submitted("c2", 20, Some("olivia@lumoco.dev"), Some("(555) 0102"));
    let id = email_key("site", "olivia@lumoco.dev");
    let mut results = Vec::new();
    for order in [[&phone_only, &both], [&both, &phone_only]] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order).await;
        let rows = contacts(&pool).await;
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0]["contact_id"], id.as_str());
        assert_eq!(rows[0]["conversation_count"], 2);
        assert_eq!(rows[0]["request_count"], 2);
        // Came back a second time: active, until an admin says otherwise.
        assert_eq!(rows[0]["lead_status"], "active");
        assert_eq!(
            links(&pool, "conversations", "conversation_id").await,
            [
                ("c1".to_owned(), Some(id.clone())),
                ("c2".to_owned(), Some(id.clone()))
            ]
        );
        results.push(rows);
    }
    assert_eq!(results[0], results[1]);
}

#[tokio::test]
async fn two_addresses_are_two_contacts() {
    let pool = fresh_pool().await;
    apply_one_at_a_time(
        &pool,
        [
            &submitted("c1", 10, Some("a@lumoco.dev"), None),
            &submitted("c2", 20, Some("b@lumoco.dev"), None),
        ],
    )
    .await;
    assert_eq!(contacts(&pool).await.len(), 2);
}

#[tokio::test]
async fn edits_set_fields_and_the_latest_of_each_wins_in_any_order() {
    let s = submitted("c1", 10, Some("olivia@lumoco.dev"), None);
    let id = email_key("site", "olivia@lumoco.dev");
    let first = updated(
        &id,
        100,
        Some("asked about Pro"),
        Some(LeadStatus::FollowUp),
    );
    let second = updated(&id, 200, None, Some(LeadStatus::Archived));
    let mut rename = updated(&id, 150, None, None);
    if let Payload::ContactUpdated(u) = &mut rename.payload {
        u.name = Some("Olivia B.".into());
    }
    let mut results = Vec::new();
    for order in [
        [&s, &first, &rename, &second],
        [&second, &rename, &first, &s],
    ] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order).await;
        let rows = contacts(&pool).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["notes"], "asked about Pro");
        assert_eq!(rows[0]["lead_status"], "archived");
        assert_eq!(rows[0]["name"], "Olivia B.");
        results.push(rows);
    }
    assert_eq!(results[0], results[1]);
}

#[tokio::test]
async fn a_merge_moves_conversations_and_requests_to_the_survivor_and_old_ids_still_work() {
    let a = submitted("c1", 10, Some("olivia@lumoco.dev"), None);
    let b = submitted("c2", 20, Some("olivia.bennett@gmail.com"), None);
    let (ka, kb) = (
        email_key("site", "olivia@lumoco.dev"),
        email_key("site", "olivia.bennett@gmail.com"),
    );
    let merge = merged(&kb, &ka, 30);
    // An admin still holding the merged contact's id edits it.
    let late_edit = updated(&ka, 40, Some("prefers e-mail"), None);
    let mut results = Vec::new();
    for order in [[&a, &b, &merge, &late_edit], [&late_edit, &merge, &b, &a]] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order).await;
        let rows = contacts(&pool).await;
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0]["contact_id"], kb.as_str());
        assert_eq!(rows[0]["conversation_count"], 2);
        assert_eq!(rows[0]["notes"], "prefers e-mail");
        assert_eq!(
            links(&pool, "conversations", "conversation_id").await,
            [
                ("c1".to_owned(), Some(kb.clone())),
                ("c2".to_owned(), Some(kb.clone()))
            ]
        );
        assert_eq!(
            links(&pool, "contact_requests", "request_id").await,
            [
                ("req-c1-10".to_owned(), Some(kb.clone())),
                ("req-c2-20".to_owned(), Some(kb.clone()))
            ]
        );
        results.push(rows);
    }
    assert_eq!(results[0], results[1]);
}

/// Values of the person that must be found nowhere after the erasure.
const PERSONAL: [&str; 9] = [
    "cust-olivia",
    "Olivia",
    "olivia@lumoco.dev",
    "555 0102",
    "203.0.113.9",
    "Mozilla",
    "Please call me back",
    "Pro plan",
    "my order number",
];

#[tokio::test]
async fn erasure_removes_the_person_from_every_table_even_what_arrives_after_it() {
    let id = email_key("site", "olivia@lumoco.dev");
    let mut rated = event(
        "c1",
        5,
        Payload::ConversationRated(ConversationRated {
            rating: 4,
            comment: Some("Olivia here, thanks".into()),
        }),
    );
    rated.context.ip = Some("203.0.113.9".parse().unwrap());
    // The website named her by its own customer id; ingest hashed it for visitor counts.
    let mut named =
        schemas::testing::message("site", "c1", at(1), Sender::User, "my order number is 4411");
    if let Payload::MessageSent(m) = &mut named.payload {
        m.customer_id = Some("cust-olivia".into());
    }
    named.context.visitor = Some("5e1f00d".into());
    let before = [
        named,
        rated,
        submitted("c1", 10, Some("olivia@lumoco.dev"), Some("+1 555 0102")),
        updated(&id, 20, Some("Olivia's notes"), None),
    ];
    let erase = erased(&id, 30);
    // Arriving after the erasure: an earlier message that was late, and a submission with
    // only the phone, in another conversation.
    let after = [
        schemas::testing::message("site", "c1", at(2), Sender::User, "my order number again"),
        submitted("c9", 12, None, Some("+1 (555) 0102")),
    ];
    let pool = fresh_pool().await;
    apply_one_at_a_time(&pool, before.iter().chain([&erase]).chain(after.iter())).await;

    let tables = all_tables(&pool).await;
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    let everything = every_row(&pool, &tables).await;
    for value in PERSONAL {
        let found: Vec<_> = everything.iter().filter(|r| r.contains(value)).collect();
        assert!(found.is_empty(), "{value:?} still in {found:#?}");
    }
    // What does not identify the person stays: the contact, its counts, the conversations.
    let rows = contacts(&pool).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["contact_id"], id.as_str());
    assert_eq!(rows[0]["conversation_count"], 2);
    assert_ne!(rows[0]["erased_at"], Value::Null);
    let (messages, requests, rating): (i64, i64, Option<i16>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM contact_requests),
                (SELECT rating FROM conversations WHERE conversation_id = 'c1')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((messages, requests, rating), (2, 2, Some(4)));
    let phone_contact = phone_key("site", "+1-555-0102");
    assert!(
        everything.iter().any(|r| r.contains(&phone_contact)),
        "the phone's key stays, so later submissions keep matching the erased contact"
    );
}

/// Two workers apply their partitions in concurrent transactions. When both batches touch
/// conversations of one person, the contact comes out as if the batches had been applied one
/// after the other, and neither is refused for colliding with the other.
#[tokio::test]
async fn a_contact_both_workers_touch_at_once_comes_out_as_if_applied_in_turn() {
    let known = [
        submitted("c1", 5, Some("olivia@lumoco.dev"), None),
        submitted("c2", 6, Some("olivia@lumoco.dev"), None),
    ];
    // Nothing the two batches write before the derive lock is shared: they run side by side
    // up to it.
    let first = message("c1", 100, None);
    let second = message("c2", 3 * 86_400, None);

    let (first, second) = (on_partition(&[first], 0), on_partition(&[second], 1));
    let in_turn = fresh_pool().await;
    apply_one_at_a_time(&in_turn, &known).await;
    for batch in [&first, &second] {
        apply_batch(&in_turn, "t", batch, &[]).await.unwrap();
    }
    let pool = fresh_pool().await;
    apply_one_at_a_time(&pool, &known).await;
    let refused = apply_side_by_side(&pool, first, second).await;

    assert_eq!(refused, (0, 0));
    assert_eq!(contacts(&pool).await.len(), 1);
    assert_eq!(contacts(&pool).await, contacts(&in_turn).await);
}

/// The erasure of a customer and a new conversation naming them, applied at once by two
/// workers: the conversation loses its personal data as it would had they come in turn.
#[tokio::test]
async fn an_erasure_and_a_conversation_it_reaches_applied_at_once_still_erase() {
    let erase = admin(
        Payload::CustomerErased(schemas::payloads::CustomerErased {
            customer_key: schemas::contact_keys::customer_key("site", "cust-olivia"),
        }),
        10,
    );
    let named = message("c1", 3 * 86_400, Some("cust-olivia"));

    let (erase, named) = (on_partition(&[erase], 0), on_partition(&[named], 1));
    let in_turn = fresh_pool().await;
    for batch in [&erase, &named] {
        apply_batch(&in_turn, "t", batch, &[]).await.unwrap();
    }
    let pool = fresh_pool().await;
    let refused = apply_side_by_side(&pool, erase, named).await;

    assert_eq!(refused, (0, 0));
    let rows = every_read_model_row(&pool).await;
    assert!(
        !rows.iter().any(|r| r.contains("my order number")),
        "{rows:#?}"
    );
    assert_eq!(rows, every_read_model_row(&in_turn).await);
}
