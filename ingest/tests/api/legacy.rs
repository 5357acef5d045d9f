//! The routes existing widgets and bots call, with their exact answers.

use super::*;

async fn legacy(
    app: &TestApp,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let headers = [
        ("X-Write-Key", KEY),
        ("Content-Type", "application/json"),
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
        ),
    ];
    app.post_to(path, &headers, body.to_string()).await
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
