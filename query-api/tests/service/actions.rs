//! Admin actions: each becomes an event, and the answer shows its effect once the projector
//! applied it (read-your-writes); 202 with the event id when it has not yet; 503 when the
//! broker does not acknowledge.

use serde_json::json;

use crate::common::{Broker, spawn_app, two_websites};

#[tokio::test]
async fn closing_a_conversation_answers_with_it_closed() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, body) = app.api().close_conversation("c2", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversation"]["status"], "closed");
    assert_eq!(body["conversation"]["close_reason"], "admin");
    assert!(body["event_id"].is_string());
    let (_, event) = app.api().conversation("c2", "").await;
    assert_eq!(event["conversation"]["status"], "closed");
}

#[tokio::test]
async fn flagging_and_marking_replied_show_on_the_message() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (_, detail) = app.api().conversation("c2", "").await;
    let user_message = detail["messages"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = app.api().flag_message(&user_message, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["requires_human"], true);
    // By the client's message id too.
    let (status, body) = app.api().human_replied("m-help", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["human_replied"], true);
    assert_eq!(app.api().flag_message("nope", "").await.0, 404);
}

#[tokio::test]
async fn a_request_moves_only_along_legal_transitions_and_a_stale_view_is_refused() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, body) = app
        .api()
        .move_request(
            "req-a",
            "",
            json!({"status": "contacted", "expected_status": "pending", "notes": "called"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request"]["status"], "contacted");
    assert_eq!(body["request"]["notes"], "called");
    // An admin who still saw it pending.
    let (status, body) = app
        .api()
        .move_request(
            "req-a",
            "",
            json!({"status": "resolved", "expected_status": "pending"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    // Backwards is not a move.
    let (status, _) = app
        .api()
        .move_request("req-a", "", json!({"status": "pending"}))
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .api()
        .move_request("req-a", "", json!({"status": "done"}))
        .await;
    assert_eq!(status, 400);
    let (_, detail) = app.api().contact_request("req-a", "").await;
    assert_eq!(detail["request"]["status"], "contacted");
    assert_eq!(detail["changes"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn contacts_are_edited_merged_and_erased_through_events() {
    let app = spawn_app().await;
    let mut events = two_websites();
    // Another address and no phone: a second contact until an admin merges them.
    let mut other = crate::common::submitted("a", "c3", 90, "olivia.b@gmail.com", "req-a2");
    if let schemas::Payload::ContactSubmitted(c) = &mut other.payload {
        c.phone = None;
    }
    events.push(other);
    app.given(events).await;
    let (_, list) = app.api().contacts("website_id=a&sort=first_seen_at").await;
    assert_eq!(list["total"], 2, "{list}");
    let first = list["contacts"][0]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = list["contacts"][1]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = app
        .api()
        .update_contact(
            &first,
            "",
            json!({"notes": "wants Pro", "lead_status": "follow_up"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["contact"]["notes"], "wants Pro");
    assert_eq!(body["contact"]["lead_status"], "follow_up");
    assert_eq!(
        app.api()
            .update_contact(&first, "", json!({"lead_status": "hot"}))
            .await
            .0,
        400
    );

    let (status, body) = app
        .api()
        .merge_contacts(json!({"surviving_contact_id": first, "merged_contact_ids": [second]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["contact"]["conversation_count"], 2);
    assert_eq!(body["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(body["requests"].as_array().unwrap().len(), 2);
    // The merged-away id still finds the contact.
    let (_, merged) = app.api().contact(&second, "").await;
    assert_eq!(merged["contact"]["contact_id"], first.as_str());

    let (status, body) = app.api().erase_contact(&first, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["contact"]["erased_at"].is_string());
    assert_eq!(body["contact"]["email"], json!(null));
    let (_, list) = app.api().contacts("website_id=a").await;
    assert_eq!(list["total"], 0, "erased contacts leave the list");
    let (_, requests) = app.api().contact_requests("website_id=a").await;
    assert_eq!(requests["requests"][0]["email"], json!(null));
}

#[tokio::test]
async fn an_action_the_projector_has_not_applied_yet_is_202_with_its_event_id() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    app.broker(Broker::Lags);
    let (status, body) = app.api().close_conversation("c2", "").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    assert!(body["event_id"].is_string());
}

#[tokio::test]
async fn an_action_the_broker_does_not_acknowledge_is_503_and_changes_nothing() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    app.broker(Broker::Down);
    let response = app
        .send(
            reqwest::Method::POST,
            "/v1/conversations/c2/close",
            Some(crate::common::TOKEN),
            None,
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let (_, detail) = app.api().conversation("c2", "").await;
    assert_eq!(detail["conversation"]["status"], "active");
}

#[tokio::test]
async fn a_website_is_created_with_a_write_key_and_listed() {
    let app = spawn_app().await;
    let (status, body) = app
        .api()
        .create_website(json!({"name": "Lumo Shop", "allowed_origins": ["https://lumo.shop"]}))
        .await;
    assert_eq!(status, 201, "{body}");
    let website = &body["website"];
    assert!(
        website["website_id"]
            .as_str()
            .unwrap()
            .starts_with("lumo-shop-")
    );
    assert!(website["write_key"].as_str().unwrap().starts_with("wk_"));
    let (_, list) = app.api().websites().await;
    assert_eq!(list["websites"][0]["name"], "Lumo Shop");
    assert_eq!(app.api().create_website(json!({})).await.0, 400);
    assert_eq!(app.api().create_website(json!({"name": ""})).await.0, 400);
}

/// Hostile strings in every string a write route takes, in its body or its path: never a 5xx.
/// A NUL character, which the topic's reader cannot store, is never produced (the test sink
/// applies every event it is given and fails the request on one it cannot decode); an edit
/// carrying one is refused with 400 naming it.
#[tokio::test]
async fn hostile_strings_in_every_write_are_never_a_server_error() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (_, list) = app.api().contacts("website_id=a").await;
    let contact = list["contacts"][0]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hostile = [
        "' OR '1'='1",
        "'; DROP TABLE contacts; --",
        "%_\\$1",
        "../../etc/passwd",
        "=cmd|' /C calc'!A0",
        "𝕏\u{202e}",
        &"A".repeat(5_000),
        "nul\u{0}here",
    ];
    let mut tried = 0;
    for h in hostile {
        let encoded: String = serde_urlencoded::to_string([("v", h)]).unwrap()[2..].to_owned();
        let contact_path = format!("/v1/contacts/{contact}");
        let calls: Vec<(reqwest::Method, String, Option<serde_json::Value>)> = vec![
            (
                reqwest::Method::POST,
                "/v1/websites".into(),
                Some(json!({"name": h})),
            ),
            (
                reqwest::Method::POST,
                "/v1/websites".into(),
                Some(json!({"name": "Shop", "allowed_origins": [h]})),
            ),
            (
                reqwest::Method::POST,
                "/v1/tokens".into(),
                Some(json!({"websites": ["a"], "name": h})),
            ),
            (
                reqwest::Method::POST,
                "/v1/tokens".into(),
                Some(json!({"websites": [h]})),
            ),
            (
                reqwest::Method::PATCH,
                contact_path.clone(),
                Some(json!({"name": h})),
            ),
            (
                reqwest::Method::PATCH,
                contact_path.clone(),
                Some(json!({"email": h})),
            ),
            (
                reqwest::Method::PATCH,
                contact_path.clone(),
                Some(json!({"phone": h})),
            ),
            (
                reqwest::Method::PATCH,
                contact_path.clone(),
                Some(json!({"notes": h})),
            ),
            (
                reqwest::Method::PATCH,
                contact_path.clone(),
                Some(json!({"lead_status": h})),
            ),
            (
                reqwest::Method::POST,
                "/v1/contacts/merge".into(),
                Some(json!({"surviving_contact_id": contact, "merged_contact_ids": [h]})),
            ),
            (
                reqwest::Method::PATCH,
                "/v1/contact-requests/req-a".into(),
                Some(json!({"status": "contacted", "notes": h})),
            ),
            (
                reqwest::Method::PATCH,
                "/v1/contact-requests/req-a".into(),
                Some(json!({"status": h})),
            ),
            (
                reqwest::Method::PATCH,
                "/api/contact/request/req-a/status".into(),
                Some(json!({"status": "contacted", "notes": h})),
            ),
            (
                reqwest::Method::POST,
                "/v1/subjects/erase".into(),
                Some(json!({"email": h})),
            ),
            (
                reqwest::Method::POST,
                "/v1/subjects/erase".into(),
                Some(json!({"customer_id": h})),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/conversations/{encoded}/close"),
                Some(json!({})),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/messages/{encoded}/flag"),
                Some(json!({})),
            ),
            (
                reqwest::Method::DELETE,
                format!("/v1/contacts/{encoded}"),
                None,
            ),
            (
                reqwest::Method::PUT,
                format!("/v1/websites/{encoded}/privacy"),
                Some(json!({"anonymize_ip": true})),
            ),
        ];
        for (method, path, body) in calls {
            let (status, answer) = app
                .call(method.clone(), &path, crate::common::TOKEN, body.clone())
                .await;
            assert!(status < 500, "{method} {path} {body:?}: {status} {answer}");
            tried += 1;
        }
    }
    assert!(tried >= 150, "only {tried} requests");
    let (status, answer) = app
        .api()
        .update_contact(&contact, "", json!({"notes": "a\u{0}b"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("NUL"),
        "{answer}"
    );
}
