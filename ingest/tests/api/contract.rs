//! The wire contract: the catalogue, what a write key may send, what every event must be.

use super::*;

#[tokio::test]
async fn the_schema_catalogue_lists_every_event_type_with_its_version_and_producer() {
    let app = spawn_app().await;
    let body = app.get_json("/v1/schemas").await;
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
