//! `POST /v1/events`: what is stored, what is refused and how the refusal reads.

use super::*;

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
