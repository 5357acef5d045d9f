//! The routes existing dashboards call: exact paths and response shapes.

use serde_json::{Value, json};

use crate::common::{spawn_app, two_websites};

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn admin_conversation_routes_answer_in_the_old_shapes() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, list) = app.api().admin_conversations("limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(list["success"], true);
    // The active ones: c3 was closed, c1 only loaded.
    let ids: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["x1", "c2"]);
    assert_eq!(list["count"], 2);

    let (status, one) = app.api().admin_conversation("c2", "").await;
    assert_eq!(status, 200);
    assert_eq!(one["success"], true);
    assert_eq!(one["conversation"]["id"], "c2");
    let messages = one["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    for m in messages {
        assert!(m["id"].is_string(), "{m}");
        assert!(m["content"].is_string() && m["sender_type"].is_string());
    }
    let (_, limited) = app.api().admin_messages("c2", "limit=1").await;
    assert_eq!(limited["success"], true);
    assert_eq!(limited["messages"].as_array().unwrap().len(), 1);

    let id = messages[0]["id"].as_str().unwrap().to_owned();
    let (status, marked) = app.api().mark_human(&id, "").await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["success"], true);
    let (status, _) = app.api().mark_replied(&id, "").await;
    assert_eq!(status, 200);
    let (status, closed) = app.api().admin_close("c2", "").await;
    assert_eq!(status, 200);
    assert_eq!(closed["success"], true);
    assert_eq!(closed["conversation"]["status"], "closed");
}

#[tokio::test]
async fn admin_stats_has_the_old_fields() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, body) = app.api().admin_stats("").await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    let stats = &body["stats"];
    let mut k = keys(stats);
    k.sort();
    assert_eq!(
        k,
        [
            "active_conversations",
            "messages_requiring_human",
            "timestamp",
            "total_conversations",
            "total_messages"
        ]
    );
    assert_eq!(stats["total_conversations"], 4);
    assert_eq!(stats["active_conversations"], 2);
    assert_eq!(stats["total_messages"], 4);
    assert_eq!(stats["messages_requiring_human"], 1);
}

#[tokio::test]
async fn contact_requests_are_a_bare_array_and_move_by_patch() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, body) = app
        .get("/api/contact/requests?website_id=a&status=pending")
        .await;
    assert_eq!(status, 200);
    let array = body.as_array().unwrap();
    assert_eq!(array.len(), 1);
    for key in [
        "id",
        "name",
        "email",
        "phone",
        "message",
        "chat_context",
        "ip_address",
        "user_agent",
        "status",
        "notes",
        "created_at",
    ] {
        assert!(array[0].get(key).is_some(), "{key} missing");
    }
    assert_eq!(array[0]["id"], "req-a");
    assert_eq!(array[0]["ip_address"], "203.0.113.9");
    let (status, moved) = app
        .api()
        .legacy_move_request(
            "req-a",
            "",
            json!({"status": "contacted", "notes": "Called customer"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["status"], "contacted");
    let (_, pending) = app
        .get("/api/contact/requests?website_id=a&status=pending")
        .await;
    assert_eq!(pending.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn analytics_summary_and_export_keep_their_fields_and_columns() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, summary) = app
        .get("/analytics/summary?start_date=2026-09-01&end_date=2026-09-30&website_id=a")
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["total_messages"], 3);
    assert_eq!(summary["cta_clicks"], 1);
    assert_eq!(summary["unique_users"], 3);
    // Admin actions are not visitor analytics: they stay out of the old export.
    assert_eq!(app.api().flag_message("m-help", "").await.0, 200);
    let response = app
        .http
        .get(format!(
            "{}/analytics/export?start_date=2026-09-01&end_date=2026-09-30&website_id=a",
            app.url
        ))
        .bearer_auth(crate::common::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().contains_key("x-as-of"),
        "exports say how fresh they are"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("events.csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "event_id,user_id,session_id,event_type,timestamp,message"
    );
    assert_eq!(lines.len(), 1 + 8, "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",c2,message,") && l.contains("Pro plan"))
    );
    assert!(lines.iter().any(|l| l.contains(",cta_click,")));
}

#[tokio::test]
async fn contacts_v1_answers_contacts_total_and_page() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, body) = app
        .api()
        .legacy_contacts("page=1&channel=frame&q=lumoco")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["page"], 1);
    let contact = &body["contacts"][0];
    for key in ["id", "name", "email", "phone", "channel", "created_at"] {
        assert!(contact.get(key).is_some(), "{key} missing");
    }
    assert_eq!(contact["email"], "olivia@lumoco.dev");
    let (_, none) = app.api().legacy_contacts("channel=telegram").await;
    assert_eq!(none["total"], 0);
}
