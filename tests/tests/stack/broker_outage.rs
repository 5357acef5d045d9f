//! The broker dies and comes back: ingest answers 503 while it is gone (never a false 200),
//! recovers once it is back, and every acknowledged event is in the topic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use e2e::{PrivateBroker, read_topic};
use runtime::kafka::{KafkaSink, ProducerConfig};
use serde_json::{Value, json};
use uuid::Uuid;

async fn post(http: &reqwest::Client, url: &str, id: Uuid) -> (u16, Value) {
    let response = http
        .post(format!("{url}/v1/events"))
        .header("X-Write-Key", "key")
        .json(
            &json!({"event_id": id, "type": "message.sent", "conversation_id": format!("c-{id}"),
                      "payload": {"sender": "user", "text": "hello"}}),
        )
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("ingest answers within the client timeout");
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_503_while_the_broker_is_down_and_recovers_when_it_returns() {
    let mut broker = PrivateBroker::start().await;
    let kafka = broker.kafka();
    runtime::kafka::ensure_topics(&kafka, &[("chat-events", 3)])
        .await
        .unwrap();
    let mut producer = ProducerConfig::new("chat-events");
    producer.delivery_timeout_ms = 1_500;
    let config = ingest::IngestConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        kafka: kafka.clone(),
        producer: producer.clone(),
        websites: vec![("site".into(), "key".into())],
        ..Default::default()
    };
    let server = ingest::build(
        &config,
        Arc::new(KafkaSink::new(&kafka, &producer).unwrap()),
    )
    .await
    .unwrap();
    let url = format!("http://{}", server.local_addr());
    tokio::spawn(server.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();

    let before = Uuid::new_v4();
    assert_eq!(post(&http, &url, before).await.0, 200);

    broker.kill().await;
    let during = Uuid::new_v4();
    let (status, body) = post(&http, &url, during).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["not_stored"][0]["event_id"], during.to_string());

    // Back again: the client retries the same event until it is acknowledged.
    broker.restart().await;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, body) = post(&http, &url, during).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only 503 while recovering: {body}");
        assert!(
            attempts < 60,
            "ingest did not recover after the broker returned"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = Uuid::new_v4();
    assert_eq!(
        post(&http, &url, after).await.0,
        200,
        "a fresh event is acknowledged too"
    );

    let stored: Vec<String> = read_topic(&kafka, "chat-events")
        .iter()
        .map(|v| v["event_id"].as_str().unwrap().to_owned())
        .collect();
    for acknowledged in [before, during, after] {
        assert!(
            stored.contains(&acknowledged.to_string()),
            "{acknowledged} acknowledged but not stored"
        );
    }
    assert_eq!(
        stored
            .iter()
            .filter(|id| **id == before.to_string())
            .count(),
        1
    );
    assert_eq!(
        stored.iter().filter(|id| **id == after.to_string()).count(),
        1
    );
}
