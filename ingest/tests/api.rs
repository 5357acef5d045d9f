//! Ingest's HTTP API against the in-memory sink: what clients see for good and bad input.

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
    let sink = MemorySink::default();
    let app = ingest::build(&config(), Arc::new(sink.clone()))
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
    async fn post(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .http
            .post(format!("{}/v1/events", self.url))
            .header("X-Write-Key", KEY)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
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

#[tokio::test]
async fn one_valid_event_is_acknowledged_and_stored_with_its_website_and_key() {
    let app = spawn_app().await;
    let (status, _, body) = app.post(message("c-1", "user").to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1);
    let records = app.sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, "c-1");
    let stored = &app.stored()[0];
    assert_eq!(stored["website_id"], "site-a");
    assert_eq!(stored["type"], "message.sent");
    assert_eq!(stored["event_id"], body["event_ids"][0]);
    assert_eq!(stored["context"]["ip"], "127.0.0.1");
}

#[tokio::test]
async fn a_website_id_in_the_body_is_ignored_in_favour_of_the_write_key() {
    let app = spawn_app().await;
    let mut event = message("c-1", "user");
    event["website_id"] = json!("someone-else");
    assert_eq!(app.post(event.to_string()).await.0, 200);
    assert_eq!(app.stored()[0]["website_id"], "site-a");
}

#[tokio::test]
async fn a_mixed_batch_stores_the_valid_events_and_names_each_rejection() {
    let app = spawn_app().await;
    let body = json!({"batch": [
        message("c-1", "user"),
        message("c-1", "robot"),
        {"type": "message.sent", "payload": {"sender": "bot", "text": "x"}},
        message("c-2", "bot"),
    ]});
    let (status, _, body) = app.post(body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        body["rejected"],
        json!([
            {"index": 1, "error": "payload.sender: expected one of user, bot, agent"},
            {"index": 2, "error": "conversation_id: is required"},
        ])
    );
    assert_eq!(app.sink.records().len(), 2);
}

#[tokio::test]
async fn a_single_invalid_event_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let (status, _, body) = app
        .post(
            json!({"type": "message.sent", "conversation_id": "c", "payload": {"sender": "user"}})
                .to_string(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "payload.text: is required");
    assert!(app.sink.records().is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400_with_a_json_error() {
    let app = spawn_app().await;
    let (status, _, body) = app.post("{\"type\": ").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "malformed_request");
    assert!(
        body["message"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn an_empty_body_and_an_empty_batch_are_400() {
    let app = spawn_app().await;
    assert_eq!(app.post("").await.0, 400);
    assert_eq!(app.post(json!({"batch": []}).to_string()).await.0, 400);
}

#[tokio::test]
async fn an_oversize_body_or_batch_is_413() {
    let app = spawn_app().await;
    let (status, _, body) = app.post(format!("\"{}\"", "x".repeat(70 * 1024))).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "payload_too_large");
    let batch: Vec<Value> = (0..11)
        .map(|i| message(&format!("c-{i}"), "user"))
        .collect();
    assert_eq!(app.post(Value::Array(batch).to_string()).await.0, 413);
}

#[tokio::test]
async fn an_unknown_or_missing_write_key_is_401() {
    let app = spawn_app().await;
    for key in [Some("nope"), None] {
        let mut request = app
            .http
            .post(format!("{}/v1/events", app.url))
            .body(message("c", "user").to_string());
        if let Some(key) = key {
            request = request.header("X-Write-Key", key);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
}

#[tokio::test]
async fn when_the_broker_is_down_the_answer_is_503_with_retry_after_and_nothing_is_acknowledged() {
    let app = spawn_app().await;
    app.sink.set_unavailable(true);
    let (status, headers, body) = app
        .post(json!([message("c", "user"), message("c", "bot")]).to_string())
        .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(body["accepted"], 0);
    assert_eq!(body["not_stored"].as_array().unwrap().len(), 2);

    let readiness = app
        .http
        .get(format!("{}/_readiness", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(readiness.status(), 503);

    app.sink.set_unavailable(false);
    assert_eq!(app.post(message("c", "user").to_string()).await.0, 200);
    assert_eq!(
        app.http
            .get(format!("{}/_readiness", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn liveness_answers_without_a_key() {
    let app = spawn_app().await;
    assert_eq!(
        app.http
            .get(format!("{}/_liveness", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
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
        let mut request = self
            .http
            .post(format!("{}{path_and_query}", self.url))
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn ndjson_events_are_accepted_line_by_line_and_a_bad_line_is_rejected_alone() {
    let app = spawn_app().await;
    let body = format!(
        "{}\n{{oops\n{}\n",
        message("c-1", "user"),
        message("c-1", "bot")
    );
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[
                ("X-Write-Key", KEY),
                ("Content-Type", "application/x-ndjson"),
            ],
            body.into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert_eq!(app.sink.records().len(), 2);
}

#[tokio::test]
async fn a_send_beacon_request_with_the_key_in_the_query_string_is_accepted() {
    let app = spawn_app().await;
    let body = json!({"batch": [message("c-1", "user")]})
        .to_string()
        .into_bytes();
    let (status, _) = app
        .post_raw(
            &format!("/v1/events?write_key={KEY}"),
            &[
                ("Content-Type", "text/plain;charset=UTF-8"),
                ("Origin", "https://shop.example"),
            ],
            body,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.stored()[0]["context"]["channel"],
        "frame",
        "browser requests default to the widget channel"
    );
}

#[tokio::test]
async fn http_basic_auth_carries_the_write_key_as_user_name() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .basic_auth(KEY, None::<&str>)
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn gzip_bodies_are_accepted_with_or_without_the_header() {
    let app = spawn_app().await;
    let body = gzip(
        json!([message("c-1", "user"), message("c-2", "bot")])
            .to_string()
            .as_bytes(),
    );
    let declared = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY), ("Content-Encoding", "gzip")],
            body.clone(),
        )
        .await;
    assert_eq!((declared.0, &declared.1["accepted"]), (200, &json!(2)));
    let sniffed = app
        .post_raw("/v1/events", &[("X-Write-Key", KEY)], body)
        .await;
    assert_eq!((sniffed.0, &sniffed.1["accepted"]), (200, &json!(2)));
}

#[tokio::test]
async fn a_gzip_bomb_is_413_and_stores_nothing() {
    let app = spawn_app().await;
    // 16 MiB of spaces compress to a few KiB: under the 64 KiB body limit, far over it inflated.
    let bomb = gzip(&vec![b' '; 16 * 1024 * 1024]);
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY), ("Content-Encoding", "gzip")],
            bomb,
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("decompressed"),
        "{body}"
    );
    assert!(app.sink.records().is_empty());
}

#[tokio::test]
async fn an_unsupported_content_type_is_415_and_invalid_utf8_is_400() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY), ("Content-Type", "application/xml")],
            b"<e/>".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY)],
            b"{\"type\": \"\xff\"}".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("UTF-8"),
        "{body}"
    );
}

#[tokio::test]
async fn a_client_clock_ahead_by_an_hour_is_corrected_with_sent_at() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let ahead = now + chrono::Duration::hours(1);
    let mut event = message("c-1", "user");
    event["occurred_at"] = json!(ahead.to_rfc3339());
    let body = json!({"batch": [event], "sent_at": ahead.to_rfc3339()});
    assert_eq!(app.post(body.to_string()).await.0, 200);
    let stored = &app.stored()[0];
    let occurred: chrono::DateTime<chrono::Utc> =
        stored["occurred_at"].as_str().unwrap().parse().unwrap();
    let received: chrono::DateTime<chrono::Utc> =
        stored["received_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        occurred, received,
        "the event happened just as it was sent, by the server's clock"
    );
}

#[tokio::test]
async fn a_browser_preflight_is_answered_and_a_cross_origin_post_carries_cors_headers() {
    let app = spawn_app().await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/events", app.url))
        .header("Origin", "https://blog.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type,x-write-key")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://blog.example");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("x-write-key") && allowed.contains("content-type"),
        "{allowed}"
    );

    let post = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("Origin", "https://blog.example")
        .header("X-Write-Key", KEY)
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(
        post.headers()["access-control-allow-origin"],
        "https://blog.example"
    );
}

/// Every answer says it is what its `Content-Type` says, errors and health checks included.
#[tokio::test]
async fn every_answer_carries_nosniff() {
    let app = spawn_app().await;
    let accepted = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("X-Write-Key", KEY)
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    let refused = app
        .http
        .post(format!("{}/v1/events", app.url))
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    let health = app
        .http
        .get(format!("{}/_liveness", app.url))
        .send()
        .await
        .unwrap();
    for response in [accepted, refused, health] {
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{}",
            response.status()
        );
    }
}

#[tokio::test]
async fn a_website_with_an_origin_allow_list_refuses_other_origins() {
    let app = spawn_app().await;
    let send = |origin: &'static str| {
        app.http
            .post(format!("{}/v1/events", app.url))
            .header("Origin", origin)
            .header("X-Write-Key", SHOP_KEY)
            .json(&message("c-1", "user"))
            .send()
    };
    assert_eq!(send("https://shop.example").await.unwrap().status(), 200);
    let refused = send("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "origin_not_allowed"
    );
    assert_eq!(app.sink.records().len(), 1);
}

#[tokio::test]
async fn an_event_over_the_size_limit_is_rejected_alone_and_alone_it_is_413() {
    let app = spawn_app().await;
    let mut big = message("c-1", "user");
    big["payload"]["text"] = json!("x".repeat(5 * 1024));
    let (status, _, body) = app
        .post(json!([message("c-1", "user"), big.clone()]).to_string())
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 1);
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("event too large"),
        "{body}"
    );
    let (status, _, body) = app.post(big.to_string()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "payload_too_large");
}

#[tokio::test]
async fn the_client_ip_comes_from_x_forwarded_for_only_through_a_trusted_proxy() {
    // The test server trusts 127.0.0.1, the address every test request comes from.
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("X-Write-Key", KEY)
        .header("X-Forwarded-For", "198.51.100.23")
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored()[0]["context"]["ip"], "198.51.100.23");
}

#[tokio::test]
async fn the_device_type_is_derived_from_the_user_agent() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("X-Write-Key", KEY)
        .header(
            "User-Agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        )
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored()[0]["context"]["device"], "mobile");
}

#[tokio::test]
async fn the_schema_catalogue_lists_every_event_type_with_its_version_and_producer() {
    let app = spawn_app().await;
    let body: Value = app
        .http
        .get(format!("{}/v1/schemas", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types = body["types"].as_array().unwrap();
    assert_eq!(types.len(), schemas::EventType::ALL.len());
    let sent = types.iter().find(|t| t["type"] == "message.sent").unwrap();
    assert_eq!(
        (sent["schema_version"].as_u64(), sent["producer"].as_str()),
        (Some(2), Some("client"))
    );
    // Old clients' version 1 is still accepted.
    assert_eq!(sent["accepts_versions"], json!([1, 2]));
    assert!(sent["payload"]["properties"]["sender"].is_object());
    let erased = types
        .iter()
        .find(|t| t["type"] == "contact.erased")
        .unwrap();
    assert_eq!(erased["producer"], "admin");
}

#[tokio::test]
async fn an_admin_action_sent_with_a_write_key_is_rejected() {
    let app = spawn_app().await;
    let event = json!({"type": "website.created", "conversation_id": "c",
                       "payload": {"website_id": "mine", "name": "Mine", "write_key": "k"}});
    let (status, _, body) = app.post(event.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("admin action"),
        "{body}"
    );
    assert!(app.sink.records().is_empty());
}

#[tokio::test]
async fn a_nul_character_rejects_its_event_with_the_field_and_keeps_its_neighbours() {
    let app = spawn_app().await;
    let batch = json!([
        {"type": "message.sent", "conversation_id": "c",
         "payload": {"sender": "user", "text": "before\u{0}after"}},
        {"type": "message.sent", "conversation_id": "c",
         "payload": {"sender": "user", "text": "fine"}},
    ]);
    let (status, _, body) = app.post(batch.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["rejected"][0]["index"], 0, "{body}");
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("payload.text: must not contain a NUL"),
        "{body}"
    );
    assert_eq!(app.stored().len(), 1);
}

#[tokio::test]
async fn a_contact_submission_gets_a_request_id_when_the_client_sends_none() {
    let app = spawn_app().await;
    let event = json!({"type": "contact.submitted", "conversation_id": "c",
                       "payload": {"name": "Olivia", "email": "olivia@lumoco.dev",
                                   "chat_context": [{"text": "Hey there!", "isUser": false}]}});
    let (status, _, body) = app.post(event.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let stored = &app.stored()[0];
    assert_eq!(stored["payload"]["request_id"], stored["event_id"]);
    assert_eq!(stored["payload"]["chat_context"][0]["is_user"], false);
}

async fn legacy(
    app: &TestApp,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.url))
        .header("X-Write-Key", KEY)
        .header("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn track_interaction_records_a_widget_load_and_answers_as_before() {
    let app = spawn_app().await;
    let (status, _, body) = legacy(
        &app,
        "/api/track-interaction",
        json!({"conversation_id": "conv-9", "customer_id": "cust-1", "page_url": "https://shop.example/p",
               "source": "web", "device": "tablet", "language": "en-US", "metadata": {"plan": "pro"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "interaction_tracked", "conversation_id": "conv-9"})
    );
    let stored = &app.stored()[0];
    assert_eq!(stored["type"], "widget.loaded");
    assert_eq!(
        stored["payload"],
        json!({"customer_id": "cust-1", "page_url": "https://shop.example/p"})
    );
    assert_eq!(stored["context"]["channel"], "web");
    assert_eq!(stored["context"]["device"], "tablet");
    assert_eq!(stored["context"]["metadata"]["plan"], "pro");
}

#[tokio::test]
async fn old_clients_send_version_1_and_new_ones_version_2_of_a_message() {
    let app = spawn_app().await;
    let batch = json!({"batch": [
        // No schema_version: the shape clients sent before versions existed.
        {"type": "message.sent", "conversation_id": "c", "payload": {"sender": "user", "text": "old"}},
        {"type": "message.sent", "conversation_id": "c", "schema_version": 1,
         "payload": {"sender": "bot", "text": "old too"}},
        {"type": "message.sent", "conversation_id": "c", "schema_version": 2,
         "payload": {"sender": {"type": "agent", "id": "a-7", "name": "Sam"}, "text": "new"}},
        // A version 2 message in the version 1 shape is refused, saying where.
        {"type": "message.sent", "conversation_id": "c", "schema_version": 2,
         "payload": {"sender": "user", "text": "confused"}},
    ]});
    let (status, _, body) = app.post(batch.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["rejected"][0]["index"], 3);
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("payload.sender")
    );
    let stored = app.stored();
    assert!(
        stored.iter().all(|e| e["schema_version"] == 2),
        "stored as the current version"
    );
    assert_eq!(stored[0]["payload"]["sender"], json!({"type": "user"}));
    assert_eq!(stored[2]["payload"]["sender"]["name"], "Sam");
}

#[tokio::test]
async fn client_update_records_messages_and_cta_clicks() {
    let app = spawn_app().await;
    let message = json!({"user_id": "u1", "session_id": "s1", "message": "Hello, world!", "event_type": "message"});
    assert_eq!(
        legacy(&app, "/client/update", message).await.2,
        json!({"status": "success"})
    );
    let click = json!({"user_id": "u1", "session_id": "s1", "message": "Book a demo", "event_type": "cta_click"});
    assert_eq!(
        legacy(&app, "/client/update", click).await.2,
        json!({"status": "success"})
    );
    let stored = app.stored();
    assert_eq!(
        (
            stored[0]["type"].as_str(),
            stored[0]["conversation_id"].as_str()
        ),
        (Some("message.sent"), Some("s1"))
    );
    assert_eq!(
        stored[0]["payload"],
        json!({"sender": {"type": "user"}, "text": "Hello, world!", "customer_id": "u1", "requires_human": false})
    );
    assert_eq!(stored[1]["type"], "cta.clicked");
    assert_eq!(
        stored[1]["payload"],
        json!({"label": "Book a demo", "customer_id": "u1"})
    );

    let odd = json!({"user_id": "u1", "session_id": "s1", "message": "x", "event_type": "scroll"});
    let (status, _, body) = legacy(&app, "/client/update", odd).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "event_type: expected one of message, cta_click"
    );
    let missing = json!({"user_id": "u1", "message": "x", "event_type": "message"});
    assert_eq!(
        legacy(&app, "/client/update", missing).await.2["message"],
        "session_id: is required"
    );
}

#[tokio::test]
async fn contact_submit_stores_the_request_with_ip_and_user_agent_and_answers_with_its_id() {
    let app = spawn_app().await;
    let (status, _, body) = legacy(
        &app,
        "/api/contact/submit",
        json!({"name": "John Doe", "email": "john@example.com", "phone": "+1234567890",
               "message": "I need help with...", "session_id": "abc123",
               "chat_context": [{"text": "Hey there!", "isUser": false}, {"text": "how are you", "isUser": true}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "Thank you! We'll get back to you soon.");
    let stored = &app.stored()[0];
    assert_eq!(body["id"], stored["payload"]["request_id"]);
    assert_eq!(stored["type"], "contact.submitted");
    assert_eq!(stored["conversation_id"], "abc123");
    assert_eq!(
        stored["payload"]["chat_context"][1],
        json!({"text": "how are you", "is_user": true})
    );
    assert_eq!(stored["context"]["ip"], "127.0.0.1");
    assert!(
        stored["context"]["user_agent"]
            .as_str()
            .unwrap()
            .contains("Windows NT")
    );
}

#[tokio::test]
async fn chat_records_the_users_message_and_the_bots_reply() {
    let app = spawn_app().await;
    let body = json!({"session_id": "s7", "message": "Hello, I need help", "customer_id": "c1",
                      "response": "Sure, what with?", "response_time_ms": 640});
    assert_eq!(
        legacy(&app, "/api/chat", body).await.2,
        json!({"status": "success"})
    );
    let stored = app.stored();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["payload"]["sender"], json!({"type": "user"}));
    assert_eq!(
        stored[1]["payload"],
        json!({"sender": {"type": "bot"}, "text": "Sure, what with?", "response_time_ms": 640, "requires_human": false})
    );
    assert!(stored.iter().all(|e| e["conversation_id"] == "s7"));
}

#[tokio::test]
async fn a_legacy_call_is_all_or_nothing() {
    let app = spawn_app().await;
    // The reply is over the test's 4 KiB event limit: the user's message is not stored either.
    let body = json!({"conversation_id": "s8", "message": "hi", "response": "x".repeat(5000)});
    let (status, _, body) = legacy(&app, "/api/chat", body).await;
    assert_eq!(status, 413, "{body}");
    assert!(app.sink.records().is_empty());
}

#[tokio::test]
async fn legacy_endpoints_need_the_write_key_and_answer_503_when_the_broker_is_down() {
    let app = spawn_app().await;
    let anonymous = app
        .http
        .post(format!("{}/api/chat", app.url))
        .json(&json!({"session_id": "s", "message": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.sink.set_unavailable(true);
    let (status, headers, _) = legacy(
        &app,
        "/api/chat",
        json!({"session_id": "s", "message": "m"}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "2");
}

#[tokio::test]
async fn metrics_count_requests_and_accepted_and_rejected_events() {
    let sink = MemorySink::default();
    let mut config = config();
    config.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let (api, metrics) = ingest::build_parts(&config, Arc::new(sink.clone()))
        .await
        .unwrap();
    let metrics = metrics.unwrap();
    let metrics_url = format!("http://{}", metrics.local_addr());
    let app = TestApp {
        url: format!("http://{}", api.local_addr()),
        sink,
        http: reqwest::Client::new(),
    };
    tokio::spawn(api.run_until_stopped(std::future::pending()));
    tokio::spawn(metrics.run_until_stopped(std::future::pending()));
    let batch = json!([message("c-1", "user"), message("c-1", "robot")]);
    assert_eq!(app.post(batch.to_string()).await.0, 200);
    // Not on the public port.
    let public = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let response = app
        .http
        .get(format!("{metrics_url}/metrics"))
        .header("Origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "readable cross-origin"
    );
    let text = response.text().await.unwrap();
    for line in [
        "ingest_events_accepted_total 1",
        r#"ingest_events_rejected_total{reason="invalid"} 1"#,
        r#"ingest_http_requests_total{route="/v1/events",status="200"} 1"#,
        "ingest_produce_latency_seconds_count 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn over_the_rate_limit_a_write_key_gets_429_with_retry_after_and_nothing_is_stored() {
    let mut config = config();
    // One event per 100 s after a burst of 3: the limit cannot refill during the test.
    config.limits.rate_limit_events_per_s = 0.01;
    config.limits.rate_limit_burst = 3;
    let sink = MemorySink::default();
    let app = ingest::build(&config, Arc::new(sink.clone()))
        .await
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let app = TestApp {
        url,
        sink,
        http: reqwest::Client::new(),
    };

    let three = json!([
        message("c", "user"),
        message("c", "bot"),
        message("c", "user")
    ]);
    assert_eq!(app.post(three.to_string()).await.0, 200);
    let (status, headers, body) = app.post(message("c", "user").to_string()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(app.sink.records().len(), 3);
}

#[tokio::test]
async fn a_legacy_call_with_curls_default_form_content_type_is_accepted() {
    let app = spawn_app().await;
    let body = json!({"session_id": "s9", "message": "hi"})
        .to_string()
        .into_bytes();
    let (status, body) = app
        .post_raw(
            "/api/chat",
            &[
                ("X-Write-Key", KEY),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body,
        )
        .await;
    assert_eq!((status, body), (200, json!({"status": "success"})));
}
