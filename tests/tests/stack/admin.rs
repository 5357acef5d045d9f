//! The admin path as a new user walks it, through the real broker and projector: create a
//! website, send it traffic with its write key, read it with a token scoped to it, act on it
//! and see the effect in the answer.

use std::time::Duration;

use e2e::{ADMIN_TOKEN, Stack};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_a_website_send_traffic_read_it_scoped_and_act_on_it() {
    let stack = Stack::start(3).await;
    let (status, created) = stack
        .admin(
            Method::POST,
            "/v1/websites",
            ADMIN_TOKEN,
            Some(json!({"name": "Lumo Shop"})),
        )
        .await;
    assert_eq!(status, 201, "read-your-writes: {created}");
    let website = created["website"]["website_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = created["website"]["write_key"].as_str().unwrap().to_owned();

    let events = json!({"batch": [
        {"event_id": Uuid::new_v4(), "type": "widget.loaded", "conversation_id": "s1"},
        {"event_id": Uuid::new_v4(), "type": "message.sent", "conversation_id": "s1",
         "payload": {"sender": "user", "text": "Do you ship to Berlin?"}},
        {"event_id": Uuid::new_v4(), "type": "contact.submitted", "conversation_id": "s1",
         "payload": {"request_id": "r1", "name": "Olivia", "email": "olivia@lumoco.dev"}},
    ]});
    // The key works from the first request, before ingest's next reload of the websites.
    let response = stack
        .http
        .post(format!("{}/v1/events", stack.ingest_url))
        .header("X-Write-Key", &key)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ids: Vec<Uuid> = events["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().parse().unwrap())
        .collect();
    stack.wait_for_events(&ids, Duration::from_secs(30)).await;

    let (status, token) = stack
        .admin(
            Method::POST,
            "/v1/tokens",
            ADMIN_TOKEN,
            Some(json!({"websites": [website]})),
        )
        .await;
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();
    let (_, list) = stack
        .admin(Method::GET, "/v1/conversations", &token, None)
        .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["conversations"][0]["conversation_id"], "s1");
    assert!(list["as_of"]["projected_at"].is_string());
    // The e2e website's data stays out of sight.
    let (status, _) = stack
        .admin(
            Method::GET,
            "/v1/conversations?website_id=e2e-site",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, closed) = stack
        .admin(
            Method::POST,
            "/v1/conversations/s1/close",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["conversation"]["status"], "closed");
    let (status, moved) = stack
        .admin(
            Method::PATCH,
            "/v1/contact-requests/r1",
            &token,
            Some(json!({"status": "contacted", "notes": "called back"})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["request"]["status"], "contacted");
    let (_, contacts) = stack.admin(Method::GET, "/v1/contacts", &token, None).await;
    let contact = contacts["contacts"][0]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, edited) = stack
        .admin(
            Method::PATCH,
            &format!("/v1/contacts/{contact}"),
            &token,
            Some(json!({"lead_status": "follow_up"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["contact"]["lead_status"], "follow_up");
    let (_, stats) = stack.admin(Method::GET, "/v1/stats", &token, None).await;
    assert_eq!(stats["current"]["contact_requests"], 1, "{stats}");
    let _: Value = stats;
}
