//! Schema evolution and read-model versions against a real Postgres: a topic holding both
//! versions of `message.sent` replays to the same tables as one holding only version 2; every
//! table has a projection version, recorded for all of them in a version that starts empty; two
//! schemas built from the same events compare equal, and a differing row is found.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use projector::consumer::{Prepared, decode};
use projector::store::{MIGRATOR, apply_batch};
use projector::versions::PROJECTIONS;
use projector::{deferred_indexes, verify, versions};
use rdkafka::Timestamp;
use rdkafka::message::OwnedMessage;
use schemas::payloads::{MessageSent, SenderRef};
use schemas::testing::at;
use schemas::{Event, Payload, Sender};
use serde_json::Value;
use sqlx::PgPool;

mod common;
use common::{every_read_model_row, fresh_pool};

fn record(offset: i64, bytes: Vec<u8>) -> OwnedMessage {
    OwnedMessage::new(
        Some(bytes),
        None,
        "t".into(),
        Timestamp::NotAvailable,
        0,
        offset,
        None,
    )
}

/// The same event as an old producer wrote it: `schema_version` 1, `sender` a bare role.
fn as_version_1(event: &Event) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&event.encode().unwrap()).unwrap();
    if value["type"] == "message.sent" {
        value["schema_version"] = 1.into();
        let role = value["payload"]["sender"]["type"].clone();
        value["payload"]["sender"] = role;
    }
    serde_json::to_vec(&value).unwrap()
}

fn conversation() -> Vec<Event> {
    (0..12)
        .map(|i| {
            let sender = [Sender::User, Sender::Bot, Sender::Agent][i % 3];
            schemas::testing::event(
                "site",
                &format!("c{}", i % 4),
                at(i as i64 * 7),
                Payload::MessageSent(MessageSent {
                    message_id: Some(format!("m{i}")),
                    customer_id: None,
                    sender: SenderRef::role(sender),
                    text: format!("line {i}"),
                    response_time_ms: (sender == Sender::Bot).then_some(400),
                    confidence_score: None,
                    requires_human: i == 5,
                }),
            )
        })
        .collect()
}

/// [`conversation`] as the projector decodes it from the topic, at offsets from 0.
fn conversation_batch() -> Prepared {
    let records: Vec<_> = conversation()
        .iter()
        .enumerate()
        .map(|(i, e)| record(i as i64, e.encode().unwrap()))
        .collect();
    decode(&records, &Default::default(), &proofs())
}

async fn replay(records: Vec<OwnedMessage>) -> (PgPool, Vec<String>) {
    let pool = fresh_pool().await;
    let prepared = decode(&records, &Default::default(), &proofs());
    assert!(prepared.poison.is_empty(), "{:?}", prepared.poison);
    apply_batch(&pool, "t", &prepared.events, &prepared.next_offsets)
        .await
        .unwrap();
    let rows = every_read_model_row(&pool).await;
    (pool, rows)
}

#[tokio::test]
async fn a_topic_with_both_versions_replays_like_one_with_only_version_2() {
    let events = conversation();
    let only_v2: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| record(i as i64, e.encode().unwrap()))
        .collect();
    let mixed: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bytes = if i % 2 == 0 {
                as_version_1(e)
            } else {
                e.encode().unwrap()
            };
            record(i as i64, bytes)
        })
        .collect();
    let (_, expected) = replay(only_v2).await;
    let (_, actual) = replay(mixed).await;
    assert_eq!(actual, expected);
    assert!(expected.iter().any(|r| r.contains("\"schema_version\": 2")));
}

#[tokio::test]
async fn every_projection_table_has_a_version() {
    let pool = fresh_pool().await;
    for table in verify::tables(&pool, "public").await.unwrap() {
        assert!(
            PROJECTIONS.iter().any(|(t, _)| *t == table),
            "{table} has no entry in versions::PROJECTIONS"
        );
    }
}

#[tokio::test]
async fn a_version_that_applied_nothing_yet_is_recorded_as_built_by_this_code() {
    let pool = fresh_pool().await;
    // The rows of the tables the code projects (dropped ones may keep theirs).
    let recorded = || async {
        sqlx::query_as::<_, (String, i32)>(
            "SELECT table_name, version FROM projection_versions ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|(t, _)| PROJECTIONS.iter().any(|(p, _)| p == t))
        .collect::<Vec<_>>()
    };
    let mut expected: Vec<(String, i32)> = PROJECTIONS
        .iter()
        .map(|(t, v)| ((*t).to_owned(), *v))
        .collect();
    expected.sort();
    // As its migrations leave it: the tables of the first release, at their first versions.
    assert_ne!(recorded().await, expected);
    assert!(versions::record_if_fresh(&pool, "public").await.unwrap());
    assert_eq!(recorded().await, expected);

    // Once it holds history, what it records stays: a later release's code did not build it.
    sqlx::query("UPDATE projection_versions SET version = 1")
        .execute(&pool)
        .await
        .unwrap();
    let prepared = conversation_batch();
    apply_batch(&pool, "t", &prepared.events, &prepared.next_offsets)
        .await
        .unwrap();
    assert!(!versions::record_if_fresh(&pool, "public").await.unwrap());
    assert!(recorded().await.iter().all(|(_, v)| *v == 1));
}

#[tokio::test]
async fn two_versions_built_from_the_same_events_compare_equal_and_a_changed_row_is_found() {
    let config = runtime::testing::fresh_database().await;
    let pool = runtime::testing::connect(&config).await;
    MIGRATOR.run(&pool).await.unwrap();
    versions::ensure_meta(&pool).await.unwrap();
    let next = versions::create_next(&pool).await.unwrap();
    assert_eq!(next.schema_name, "rm_v2");
    let v2 = runtime::read_models::pool_for_schema(&config, &next.schema_name).unwrap();
    MIGRATOR.run(&v2).await.unwrap();
    // Both built by this code, except `messages`, which `public` holds from an older one.
    for schema in ["public", next.schema_name.as_str()] {
        versions::record_projection_versions(&pool, schema)
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE public.projection_versions SET version = version - 1 WHERE table_name = 'messages'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let prepared = conversation_batch();
    for target in [&pool, &v2] {
        apply_batch(target, "t", &prepared.events, &prepared.next_offsets)
            .await
            .unwrap();
    }
    let checks = verify::compare(&pool, "public", "rm_v2").await.unwrap();
    assert!(checks.iter().all(|c| c.equal), "{checks:#?}");
    let conversations = checks.iter().find(|c| c.table == "conversations").unwrap();
    assert!(conversations.compared && conversations.new_rows == 4);
    // A table whose projection changed since the live version was built: built anew, not
    // compared.
    let messages = checks.iter().find(|c| c.table == "messages").unwrap();
    assert!(!messages.compared);

    sqlx::query("UPDATE rm_v2.conversations SET message_count = 99 WHERE conversation_id = 'c1'")
        .execute(&pool)
        .await
        .unwrap();
    let checks = verify::compare(&pool, "public", "rm_v2").await.unwrap();
    let bad: Vec<_> = checks.iter().filter(|c| !c.equal).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].table, "conversations");
    let only_new = verify::rows_only_in(&pool, "rm_v2", "public", "conversations", 10)
        .await
        .unwrap();
    assert_eq!(only_new.len(), 1);
    assert!(only_new[0].contains("\"message_count\": 99"));
}

#[tokio::test]
async fn the_indexes_a_rebuild_defers_exist_and_come_back_exactly() {
    let pool = fresh_pool().await;
    let before = deferred_indexes::definitions(&pool, "public")
        .await
        .unwrap();
    assert_eq!(
        before.len(),
        deferred_indexes::READ_ONLY.len(),
        "every deferred index is one the migrations create: {before:#?}"
    );
    let returned = deferred_indexes::drop(&pool, "public").await.unwrap();
    assert!(
        deferred_indexes::definitions(&pool, "public")
            .await
            .unwrap()
            .is_empty()
    );
    deferred_indexes::create(&pool, &returned).await.unwrap();
    let after = deferred_indexes::definitions(&pool, "public")
        .await
        .unwrap();
    assert_eq!(after, before);
}

/// Client records only: no proof is asked of them.
fn proofs() -> projector::proofs::Proofs {
    projector::proofs::Proofs::required(runtime::proof::AdminKeys::dev())
}
