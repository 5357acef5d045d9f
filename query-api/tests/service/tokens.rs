//! The lifecycle of created tokens: who may mint them, listing (never the token), expiry,
//! revocation, and the acting token recorded on admin events.

use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TOKEN, TestApp, spawn_app, two_websites};

async fn mint(app: &TestApp, by: &str, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/v1/tokens", by, Some(body)).await
}

/// Polls `path` with `token` until it answers `status`, for at most 30 s.
async fn until_status(app: &TestApp, token: &str, path: &str, status: u16) {
    for _ in 0..300 {
        if app.get_as(token, path).await.0 == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {status}");
}

#[tokio::test]
async fn only_tokens_allowed_to_mint_can_and_never_beyond_themselves() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let plain = app.token_for(&["a"]).await;
    let (status, body) = mint(&app, &plain, json!({"websites": ["a"]})).await;
    assert_eq!(status, 403, "a scoped token minted a token: {body}");

    let expiry = Utc::now() + chrono::Duration::hours(1);
    let (status, minter) = mint(
        &app,
        TOKEN,
        json!({"websites": ["a"], "may_mint": true, "expires_at": expiry, "name": "minter"}),
    )
    .await;
    assert_eq!(status, 201, "{minter}");
    let minter_token = minter["token"].as_str().unwrap();

    // It mints for its websites, no longer than it lives, and never the right to mint.
    let (status, minted) = mint(&app, minter_token, json!({"websites": ["a"]})).await;
    assert_eq!(status, 201, "{minted}");
    assert_eq!(minted["expires_at"], minter["expires_at"]);
    let later = expiry + chrono::Duration::hours(1);
    let (status, body) = mint(
        &app,
        minter_token,
        json!({"websites": ["a"], "expires_at": later}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = mint(
        &app,
        minter_token,
        json!({"websites": ["a"], "may_mint": true}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = mint(&app, minter_token, json!({"websites": ["b"]})).await;
    assert_eq!(status, 400, "{body}");
    let past = Utc::now() - chrono::Duration::hours(1);
    let (status, body) = mint(&app, TOKEN, json!({"websites": ["a"], "expires_at": past})).await;
    assert_eq!(status, 400, "{body}");

    // The list names each token's creator, and never holds a token.
    let (status, list) = app.api().tokens().await;
    assert_eq!(status, 200, "{list}");
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    let of = |id: &Value| tokens.iter().find(|t| t["id"] == *id).unwrap().clone();
    assert_eq!(of(&minter["id"])["created_by"], "bootstrap");
    assert_eq!(of(&minter["id"])["name"], "minter");
    assert_eq!(of(&minter["id"])["may_mint"], true);
    assert_eq!(of(&minted["id"])["created_by"], minter["id"]);
    let text = list.to_string();
    for token in [
        plain.as_str(),
        minter_token,
        minted["token"].as_str().unwrap(),
    ] {
        assert!(!text.contains(token), "the list shows a token");
    }
}

#[tokio::test]
async fn tokens_are_listed_by_scope_and_show_when_they_were_last_used() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let a = app.token_for(&["a"]).await;
    let _b = app.token_for(&["b"]).await;
    let (_, list) = app.api_as(&a).tokens().await;
    let listed = list["tokens"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "a token of a sees only a's tokens: {list}");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    // Its use was just noted (written beside the request, so it may land a moment later).
    for _ in 0..300 {
        let (_, token) = app.api().token(&id).await;
        if token["token"]["last_used_at"].is_string() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("last_used_at was never set");
}

#[tokio::test]
async fn a_revoked_or_expired_token_is_refused() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (_, made) = mint(&app, TOKEN, json!({"websites": ["a"]})).await;
    let (token, id) = (
        made["token"].as_str().unwrap(),
        made["id"].as_str().unwrap(),
    );
    assert_eq!(app.api_as(token).conversations("").await.0, 200);

    // A token that may not mint may revoke only itself.
    let other = app.token_for(&["a"]).await;
    let (status, body) = app
        .call(Method::DELETE, &format!("/v1/tokens/{id}"), &other, None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(app.api_as(token).conversations("").await.0, 200);

    let (status, revoked) = app.api().revoke_token(id).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["token"]["revoked_at"].is_string(), "{revoked}");
    assert_eq!(app.api_as(token).conversations("").await.0, 401);
    let own = format!("/v1/tokens/{}", query_api::auth::digest(&other));
    let (status, _) = app.call(Method::DELETE, &own, &other, None).await;
    assert_eq!(status, 200, "a token revokes itself");
    assert_eq!(app.api_as(&other).conversations("").await.0, 401);

    let soon = Utc::now() + chrono::Duration::seconds(1);
    let (status, made) = mint(&app, TOKEN, json!({"websites": ["a"], "expires_at": soon})).await;
    assert_eq!(status, 201, "{made}");
    until_status(
        &app,
        made["token"].as_str().unwrap(),
        "/v1/conversations",
        401,
    )
    .await;
}

#[tokio::test]
async fn admin_events_record_the_acting_token() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (_, made) = mint(&app, TOKEN, json!({"websites": ["a"]})).await;
    let token = made["token"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::PATCH,
            "/v1/contact-requests/req-a",
            token,
            Some(json!({"status": "contacted"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .call(
            Method::PATCH,
            "/v1/contact-requests/req-a",
            TOKEN,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, request) = app.api().contact_request("req-a", "").await;
    let actors: Vec<&Value> = request["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("{request}"))
        .iter()
        .map(|c| &c["actor"])
        .collect();
    assert_eq!(actors, [&made["id"], &json!("bootstrap")], "{request}");
    let logged: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT context->>'actor' FROM event_log
         WHERE type = 'contact_request.status_changed' ORDER BY occurred_at, event_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        logged,
        [
            made["id"].as_str().map(str::to_owned),
            Some("bootstrap".into())
        ]
    );

    // A conversation's and a contact's histories name who acted, by id and name.
    let (_, named) = mint(
        &app,
        TOKEN,
        json!({"websites": ["a"], "name": "support desk"}),
    )
    .await;
    let desk = named["token"].as_str().unwrap();
    let (status, body) = app
        .call(Method::POST, "/v1/conversations/c1/close", desk, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, conversation) = app.api().conversation("c1", "").await;
    let actions = conversation["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{conversation}");
    assert_eq!(actions[0]["type"], "conversation.closed");
    assert_eq!(actions[0]["actor"], named["id"]);
    assert_eq!(actions[0]["actor_name"], "support desk");
    let contact_id = request["request"]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/contacts/{contact_id}");
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            desk,
            Some(json!({"notes": "called back"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, contact) = app.get(&path).await;
    let actions = contact["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{contact}");
    assert_eq!(actions[0]["type"], "contact.updated");
    assert_eq!(actions[0]["actor_name"], "support desk");
}
