//! An idle projector stops fetching (docs/operations.md, "An idle stack"): after
//! `PROJECTOR_IDLE_PAUSE_MS` without records its workers pause their partitions, and they
//! fetch again when ingest (or query-api, or anything producing through `KafkaSink` with an
//! announcer) announces records on a quiet partition, or when the lag monitor
//! (`PROJECTOR_LAG_INTERVAL_MS`) sees records waiting there.

use std::time::Duration;

use e2e::{Stack, free_port};
use runtime::kafka::{EventSink, KafkaSink, ProducerConfig, Record};
use runtime::testing::metric;
use serde_json::json;
use tokio::process::Child;

const PARTITIONS: i32 = 4;
const WORKERS: f64 = 2.0;

/// Replaces the stack's projector with one reading the partitions' ends every `lag_ms`, and waits
/// until both its workers have stopped fetching; the process and its metrics address.
async fn idle_projector(stack: &mut Stack, lag_ms: &str) -> (Child, String) {
    stack.kill_projector().await;
    let port = free_port();
    let projector = stack.another_projector_with(
        port,
        &[
            ("PROJECTOR_WORKERS", "2"),
            ("PROJECTOR_LAG_INTERVAL_MS", lag_ms),
        ],
    );
    let metrics = format!("http://127.0.0.1:{port}");
    all_idle(stack, &metrics).await;
    (projector, metrics)
}

async fn all_idle(stack: &Stack, metrics: &str) -> String {
    stack
        .wait_for_metrics_of(metrics, Duration::from_secs(60), |text| {
            metric(text, "projector_workers_idle") == Some(WORKERS)
        })
        .await
}

#[tokio::test]
async fn an_idle_projector_applies_what_ingest_announces_with_no_poll_behind_it() {
    let mut stack = Stack::start(PARTITIONS).await;
    // An hour between reads of the ends (the first at start): within the test only an
    // announcement can wake a worker.
    let (_projector, metrics) = idle_projector(&mut stack, "3600000").await;
    let topic_before: i64 = stack.high_watermarks().iter().map(|(_, end)| end).sum();
    let text = all_idle(&stack, &metrics).await;
    let applied_before = metric(&text, "projector_events_applied_total").unwrap();

    let events: Vec<_> = (0..8)
        .map(|i| json!({"type": "widget.loaded", "conversation_id": format!("idle-{i}")}))
        .collect();
    let response = stack.post_events(&json!(events)).await;
    assert_eq!(response.status(), 200);
    let stored = stack.wait_until_caught_up(Duration::from_secs(60)).await;
    let read: i64 = stored.iter().map(|(_, offset)| offset).sum();
    assert_eq!(read, topic_before + 8, "stored offsets: {stored:?}");
    let text = all_idle(&stack, &metrics).await;
    let applied = metric(&text, "projector_events_applied_total").unwrap();
    assert_eq!(applied - applied_before, 8.0);

    // Again after the pause: the partitions had been quiet, so ingest announces them anew.
    let response = stack
        .post_events(&json!({"type": "widget.loaded", "conversation_id": "idle-again"}))
        .await;
    assert_eq!(response.status(), 200);
    stack
        .wait_for_metrics_of(&metrics, Duration::from_secs(60), |text| {
            metric(text, "projector_events_applied_total") == Some(applied_before + 9.0)
        })
        .await;
}

#[tokio::test]
async fn records_nobody_announced_are_found_by_the_lag_monitor() {
    let mut stack = Stack::start(PARTITIONS).await;
    let (_projector, metrics) = idle_projector(&mut stack, "1000").await;
    let text = all_idle(&stack, &metrics).await;
    let applied_before = metric(&text, "projector_events_applied_total");

    // Another application writing to the topic announces nothing (and writes nonsense, which
    // the projector dead-letters and moves past).
    let sink = KafkaSink::new(&stack.kafka, &ProducerConfig::new(&stack.topic)).unwrap();
    for result in sink
        .send(vec![Record::new("elsewhere", b"not an event".to_vec())])
        .await
    {
        result.unwrap();
    }
    stack.wait_until_caught_up(Duration::from_secs(60)).await;
    let text = stack
        .wait_for_metrics_of(&metrics, Duration::from_secs(60), |text| {
            metric(text, "projector_events_dead_lettered_total") == Some(1.0)
        })
        .await;
    assert_eq!(
        metric(&text, "projector_events_applied_total"),
        applied_before
    );
}
