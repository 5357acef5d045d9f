//! Ingest's HTTP API against the in-memory sink: what clients see for good and bad input. One
//! binary; each module is one concern, sharing the `TestApp` here.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::net::SocketAddr;
use std::sync::Arc;

use ingest::IngestConfig;
use runtime::kafka::{KafkaConfig, MemorySink, ProducerConfig};
use serde_json::{Value, json};

const KEY: &str = "test-key";
const SHOP_KEY: &str = "shop-key";

struct TestApp {
    url: String,
    sink: MemorySink,
    http: reqwest::Client,
}

fn config() -> IngestConfig {
    IngestConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        kafka: KafkaConfig::new("127.0.0.1:1"),
        producer: ProducerConfig::new("chat-events"),
        websites: vec![
            ("site-a".into(), KEY.into()),
            ("shop".into(), SHOP_KEY.into()),
        ],
        allowed_origins: vec![("shop".into(), vec!["https://shop.example".into()])],
        trusted_proxies: "127.0.0.1".parse().unwrap(),
        limits: ingest::config::Limits {
            max_body_bytes: 64 * 1024,
            max_event_bytes: 4 * 1024,
            max_batch_events: 10,
            retry_after_s: 2,
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn spawn_app() -> TestApp {
    spawn_app_with(config()).await
}

/// [`spawn_app`] with a configuration of the test's own.
async fn spawn_app_with(config: IngestConfig) -> TestApp {
    let sink = MemorySink::default();
    let app = ingest::build(&config, Arc::new(sink.clone()))
        .await
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        url,
        sink,
        http: reqwest::Client::new(),
    }
}

impl TestApp {
    /// POSTs `body` to `path_and_query` with `headers` (and no others): the answer's status,
    /// headers and JSON body (null when it is not JSON). Every POST of these tests goes here.
    async fn post_to(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .post(format!("{}{path_and_query}", self.url))
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// POSTs a JSON body to `/v1/events` with the website's key.
    async fn post(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let headers = [("X-Write-Key", KEY), ("Content-Type", "application/json")];
        self.post_to("/v1/events", &headers, body).await
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.url)).send().await;
        response.unwrap().json().await.unwrap()
    }

    fn stored(&self) -> Vec<Value> {
        self.sink
            .records()
            .iter()
            .map(|r| serde_json::from_slice(&r.value).unwrap())
            .collect()
    }
}

fn message(conversation: &str, sender: &str) -> Value {
    json!({"type": "message.sent", "conversation_id": conversation, "payload": {"sender": sender, "text": "hi"}})
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

impl TestApp {
    /// POSTs raw bytes with the given headers and no write-key header unless given.
    async fn post_raw(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Value) {
        let (status, _, body) = self.post_to(path_and_query, headers, body).await;
        (status, body)
    }
}

mod bodies;
mod contract;
mod documents;
mod events;
mod legacy;
mod operations;
mod requests;
mod segment;
mod websites;
