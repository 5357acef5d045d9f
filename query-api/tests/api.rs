//! The query API over a real, migrated Postgres whose read models were written by the
//! projector's own `apply_batch`.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use schemas::Payload;
use schemas::Sender;
use schemas::payloads::WidgetLoaded;

mod common;
use common::{event, message, spawn_app};

#[tokio::test]
async fn conversations_are_listed_newest_activity_first_and_filtered_by_website() {
    let app = spawn_app().await;
    app.given(vec![
        event(
            "a",
            "old",
            0,
            Payload::WidgetLoaded(WidgetLoaded::default()),
        ),
        message("a", "new", 50, Sender::User, "hi"),
        message("b", "other-site", 100, Sender::User, "hi"),
    ])
    .await;
    let (status, body) = app.get("/v1/conversations?website_id=a").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["new", "old"]);
    let (_, all) = app.get("/v1/conversations?limit=1").await;
    assert_eq!(all["conversations"][0]["conversation_id"], "other-site");
    assert_eq!(all["count"], 1);
}

#[tokio::test]
async fn a_conversation_detail_carries_its_messages_in_order() {
    let app = spawn_app().await;
    app.given(vec![
        message("a", "c", 2, Sender::Bot, "second"),
        message("a", "c", 1, Sender::User, "first"),
    ])
    .await;
    let (status, body) = app.get("/v1/conversations/c").await;
    assert_eq!(status, 200);
    assert_eq!(body["conversation"]["message_count"], 2);
    let texts: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second"]);
}

#[tokio::test]
async fn an_unknown_conversation_is_404() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v1/conversations/nope").await.0, 404);
}

#[tokio::test]
async fn an_id_used_by_two_websites_needs_the_website_to_be_named() {
    let app = spawn_app().await;
    app.given(vec![
        message("a", "c", 1, Sender::User, "x"),
        message("b", "c", 1, Sender::User, "y"),
    ])
    .await;
    assert_eq!(app.get("/v1/conversations/c").await.0, 400);
    let (status, body) = app.get("/v1/conversations/c?website_id=b").await;
    assert_eq!(status, 200);
    assert_eq!(body["messages"][0]["text"], "y");
}

#[tokio::test]
async fn bad_query_parameters_are_400_not_500() {
    let app = spawn_app().await;
    for path in [
        "/v1/conversations?limit=0",
        "/v1/conversations?limit=100000",
        "/v1/conversations?limit=ten",
        "/v1/conversations?colour=red",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
}

#[tokio::test]
async fn every_v1_route_needs_the_admin_token() {
    let app = spawn_app().await;
    for path in ["/v1/conversations", "/v1/conversations/c"] {
        let anonymous = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
        let wrong = app
            .http
            .get(format!("{}{path}", app.url))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
}
