//! Dependencies that are not there — the broker (the real Kafka sink, pointed at a closed
//! port) or Postgres (the key store, the websites created since ingest started) — give a
//! bounded 503, never a hang and never a 2xx.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ingest::IngestConfig;
use runtime::kafka::{KafkaConfig, KafkaSink, ProducerConfig};
use serde_json::json;

/// Ingest with the real Kafka sink, pointed at port 1 on loopback where nothing listens.
async fn spawn_without_broker(producer: ProducerConfig) -> String {
    let kafka = KafkaConfig::new("127.0.0.1:1");
    let config = IngestConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        kafka: kafka.clone(),
        producer: producer.clone(),
        websites: vec![("site".into(), "key".into())],
        ..Default::default()
    };
    let sink = Arc::new(KafkaSink::new(&kafka, &producer).unwrap());
    let app = ingest::build(&config, sink).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    url
}

async fn post(url: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/v1/events"))
        .header("X-Write-Key", "key")
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("an answer within the client timeout, not a hang")
}

#[tokio::test]
async fn an_unreachable_broker_gives_503_with_retry_after_within_the_delivery_timeout() {
    let mut producer = ProducerConfig::new("chat-events");
    producer.delivery_timeout_ms = 1_500;
    let url = spawn_without_broker(producer).await;
    let response = post(
        &url,
        json!({"type": "widget.loaded", "conversation_id": "c"}),
    )
    .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_full_producer_queue_refuses_the_overflow_and_the_request_is_503() {
    let mut producer = ProducerConfig::new("chat-events");
    producer.delivery_timeout_ms = 3_000;
    producer.queue_max_messages = 1;
    let url = spawn_without_broker(producer).await;
    // Two events with room for one: the second is refused by the full queue, and the whole
    // request is 503 (the first then times out against the missing broker).
    let response = post(
        &url,
        json!([{"type": "widget.loaded", "conversation_id": "a"},
               {"type": "widget.loaded", "conversation_id": "b"}]),
    )
    .await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 0);
    assert_eq!(body["not_stored"].as_array().unwrap().len(), 2);
}

/// Ingest on the in-memory sink whose Postgres (the key store, the created websites) is not
/// there.
async fn spawn_without_postgres(sink: &runtime::kafka::MemorySink) -> String {
    let config = IngestConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        websites: vec![("site".into(), "key".into())],
        websites_database: Some(runtime::postgres::PostgresConfig {
            url: "postgres://colloquy@127.0.0.1:1/colloquy".into(),
            pool_size: 1,
            connect_timeout_ms: 500,
        }),
        ..Default::default()
    };
    let app = ingest::build(&config, Arc::new(sink.clone()))
        .await
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    url
}

/// Ingest whose key store (Postgres) is not there: personal data cannot be sealed, so nothing
/// is stored and the client is told to retry — never written unsealed, never a false 2xx.
#[tokio::test]
async fn an_unreachable_key_store_gives_503_and_stores_nothing() {
    let sink = runtime::kafka::MemorySink::default();
    let url = spawn_without_postgres(&sink).await;
    let response = post(
        &url,
        json!({"type": "message.sent", "conversation_id": "c",
               "payload": {"sender": "user", "text": "my number is 555-0100"}}),
    )
    .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["not_stored"][0]["index"], 0, "{body}");
    assert!(sink.records().is_empty());
}

/// A key ingest does not know may belong to a website created a moment ago: while Postgres
/// cannot say, the client is told to retry, not given a 401 it would drop its events on.
#[tokio::test]
async fn an_unknown_key_while_postgres_is_unreachable_gives_503() {
    let sink = runtime::kafka::MemorySink::default();
    let url = spawn_without_postgres(&sink).await;
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/events"))
        .header("X-Write-Key", "a-key-created-a-moment-ago")
        .json(&json!({"type": "widget.loaded", "conversation_id": "c"}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("an answer within the client timeout, not a hang");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(sink.records().is_empty());
}
