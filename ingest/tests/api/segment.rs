//! The Segment HTTP Tracking API: what Segment's and RudderStack's libraries send, stored as
//! Colloquy's events, with every message not stored named; the spec's limits and codes.

use super::*;

/// `Authorization: Basic base64("{key}:")`, as Segment's server libraries send the write key.
fn basic(key: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

fn track(event: &str, message_id: &str, properties: Value) -> Value {
    json!({"type": "track", "event": event, "messageId": message_id, "userId": "user-1",
           "properties": properties,
           "context": {"library": {"name": "analytics-python", "version": "2.4.0"},
                       "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"},
           "timestamp": "2026-12-01T10:00:00Z"})
}

#[tokio::test]
async fn a_batch_stores_what_maps_and_names_every_message_it_does_not_store() {
    let app = spawn_app().await;
    let batch = json!({"sentAt": "2026-12-01T10:00:01Z", "batch": [
        track("Message Sent", "m-0", json!({"conversation_id": "c-1", "sender": "user", "text": "Hi", "plan": "pro"})),
        track("Order Completed", "m-1", json!({"conversation_id": "c-1"})),
        {"type": "page", "messageId": "m-2", "anonymousId": "anon-1",
         "properties": {"conversation_id": "c-1", "url": "https://site.example/pricing"}},
        {"type": "group", "messageId": "m-3", "userId": "user-1", "groupId": "acme"},
        {"type": "track", "messageId": "m-4", "event": "CTA Clicked", "properties": {"conversation_id": "c-1"}},
        track("Contact Submitted", "m-5", json!({"conversation_id": "c-1", "email": "not-an-address"})),
        track("cta.clicked", "m-6", json!({"conversation_id": "c-1", "label": "Book a demo"})),
    ]});
    let auth = basic(KEY);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
    ];
    let body = gzip(batch.to_string().as_bytes());
    let (status, _, answer) = app.post_to("/v1/batch", &headers, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["accepted"], 3, "{answer}");
    let indices = |list: &str| -> Vec<u64> {
        answer[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["index"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(indices("not_used"), [1, 3], "{answer}");
    assert_eq!(indices("rejected"), [4, 5], "{answer}");
    assert_eq!(answer["rejected"][0]["messageId"], "m-4");
    assert!(
        answer["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("userId"),
        "{answer}"
    );
    assert!(
        answer["rejected"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("email"),
        "{answer}"
    );

    let stored = app.stored();
    let types: Vec<&str> = stored.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["message.sent", "widget.loaded", "cta.clicked"]);
    assert!(stored.iter().all(|e| e["website_id"] == "site-a"));
    assert_eq!(stored[0]["payload"]["customer_id"], "user-1");
    // Properties that are not the payload's fields are not kept.
    assert_eq!(stored[0]["payload"].get("plan"), None, "{}", stored[0]);
    assert_eq!(stored[1]["payload"]["customer_id"], "anon-1");
    assert_eq!(
        stored[1]["payload"]["page_url"],
        "https://site.example/pricing"
    );
    assert_eq!(stored[2]["payload"]["label"], "Book a demo");
    // The browser's user agent from the context, not the library's request.
    assert_eq!(stored[0]["context"]["device"], "mobile");
    assert_eq!(
        stored[0]["context"]["metadata"]["library"]["name"],
        "analytics-python"
    );
    // The message's time, corrected by how far the client's clock was off when it sent.
    let received: chrono::DateTime<chrono::Utc> =
        stored[0]["received_at"].as_str().unwrap().parse().unwrap();
    let occurred: chrono::DateTime<chrono::Utc> =
        stored[0]["occurred_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(received - occurred, chrono::Duration::seconds(1));

    // A library's retry of the same batch names the same events: they count once downstream.
    let (status, _, again) = app.post_to("/v1/batch", &headers, body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["event_ids"], answer["event_ids"]);
}

#[tokio::test]
async fn a_browser_call_carries_its_key_in_a_text_plain_body_and_its_origin_is_checked() {
    let app = spawn_app().await;
    let mut message = track(
        "Widget Loaded",
        "w-1",
        json!({"conversation_id": "c-9", "url": "https://shop.example/"}),
    );
    message["writeKey"] = json!(SHOP_KEY);
    let headers = [
        ("Content-Type", "text/plain"),
        ("Origin", "https://shop.example"),
    ];
    // analytics.js posts a track call to `/t`.
    let (status, _, answer) = app.post_to("/v1/t", &headers, message.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    let stored = app.stored();
    assert_eq!(stored[0]["website_id"], "shop");
    assert_eq!(stored[0]["type"], "widget.loaded");

    let elsewhere = [
        ("Content-Type", "text/plain"),
        ("Origin", "https://evil.example"),
    ];
    let (status, _, answer) = app
        .post_to("/v1/track", &elsewhere, message.to_string())
        .await;
    assert_eq!(status, 403, "{answer}");
    message["writeKey"] = json!("no-such-key");
    let (status, _, _) = app
        .post_to("/v1/track", &headers, message.to_string())
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_specs_limits_are_a_400_and_one_large_message_costs_only_itself() {
    let app = spawn_app().await;
    let auth = basic(KEY);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let big = "x".repeat(33 * 1024);
    let call = track(
        "Message Sent",
        "big",
        json!({"conversation_id": "c", "sender": "user", "text": big}),
    );
    let (status, _, answer) = app.post_to("/v1/track", &headers, call.to_string()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");

    let batch = json!({"batch": [
        call,
        track("Message Sent", "small", json!({"conversation_id": "c", "sender": "user", "text": "hi"})),
    ]});
    let (status, _, answer) = app.post_to("/v1/batch", &headers, batch.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["rejected"][0]["messageId"], "big");
    assert!(
        answer["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{answer}"
    );

    let (status, _, answer) = app.post_to("/v1/batch", &headers, "{not json").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "malformed_request");
}

#[tokio::test]
async fn a_broker_that_does_not_acknowledge_is_a_503_the_libraries_retry() {
    let app = spawn_app().await;
    app.sink.set_unavailable(true);
    let auth = basic(KEY);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let batch = json!({"batch": [
        {"type": "group", "userId": "u", "groupId": "g"},
        track("Message Sent", "m", json!({"conversation_id": "c", "sender": "user", "text": "hi"})),
    ]});
    let (status, headers, answer) = app.post_to("/v1/batch", &headers, batch.to_string()).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(headers["retry-after"], "2");
    // Named by its place in the batch.
    assert_eq!(answer["not_stored"][0]["index"], 1, "{answer}");
}

#[tokio::test]
async fn a_trusted_backend_relays_its_visitors_addresses_and_no_one_else_can() {
    let batch = json!({"batch": [
        {"type": "track", "event": "Message Sent", "userId": "u", "messageId": "a",
         "properties": {"conversation_id": "c-1", "sender": "user", "text": "hi"},
         "context": {"ip": "203.0.113.9"}},
        {"type": "track", "event": "Message Sent", "userId": "v", "messageId": "b",
         "properties": {"conversation_id": "c-2", "sender": "user", "text": "hi"},
         "context": {"ip": "198.51.100.7"}},
        {"type": "track", "event": "Message Sent", "userId": "w", "messageId": "c",
         "properties": {"conversation_id": "c-3", "sender": "user", "text": "hi"}},
    ]});
    let auth = basic(KEY);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    // The tests' own address is a trusted proxy: each message keeps its visitor's address.
    let app = spawn_app().await;
    let (status, _, answer) = app.post_to("/v1/batch", &headers, batch.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 3, "{answer}");
    let by_conversation = |stored: Vec<Value>| -> Vec<(String, Value)> {
        let mut rows: Vec<(String, Value)> = stored
            .iter()
            .map(|e| {
                (
                    e["conversation_id"].as_str().unwrap().to_owned(),
                    e["context"]["ip"].clone(),
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    assert_eq!(
        by_conversation(app.stored()),
        [
            ("c-1".to_owned(), json!("203.0.113.9")),
            ("c-2".to_owned(), json!("198.51.100.7")),
            ("c-3".to_owned(), json!("127.0.0.1")),
        ]
    );
    // The ids answered are the messages', in their order.
    let first: Vec<&Value> = answer["event_ids"].as_array().unwrap().iter().collect();
    let stored = app.stored();
    for (conversation, id) in ["c-1", "c-2", "c-3"].iter().zip(first) {
        let event = stored
            .iter()
            .find(|e| e["conversation_id"] == *conversation)
            .unwrap();
        assert_eq!(&event["event_id"], id);
    }

    // From anyone else, `context.ip` is not believed.
    let untrusted = spawn_app_with(IngestConfig {
        trusted_proxies: Default::default(),
        ..config()
    })
    .await;
    let (status, _, answer) = untrusted
        .post_to("/v1/batch", &headers, batch.to_string())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        untrusted
            .stored()
            .iter()
            .all(|e| e["context"]["ip"] == "127.0.0.1"),
        "{:?}",
        untrusted.stored()
    );
}
