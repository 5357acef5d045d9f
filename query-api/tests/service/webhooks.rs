//! Registering webhook endpoints: where they may point (no private, loopback or link-local
//! destination, by address or by a name resolving to one; https only), the signing secret shown
//! once and never again, its rotation, and each token seeing only its websites' endpoints.

use query_api::webhooks::guard::Policy;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TOKEN, TestApp, spawn_app, spawn_app_with};

async fn register(app: &TestApp, website: &str, body: Value) -> (u16, Value) {
    app.call(
        Method::POST,
        &format!("/v1/websites/{website}/webhooks"),
        TOKEN,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn private_loopback_and_metadata_destinations_are_refused_at_registration() {
    let app = spawn_app().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        // A name resolving to loopback is refused like the address.
        "https://localhost:8443/hook",
    ] {
        let (status, body) = register(&app, "demo", json!({ "url": url })).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("not a public address"),
            "{url}: {body}"
        );
    }
    let (status, body) = register(&app, "demo", json!({"url": "http://crm.example/hook"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("https"),
        "{body}"
    );
    let (status, body) = register(
        &app,
        "demo",
        json!({"url": "https://crm.example/hook", "kinds": ["contact.exploded"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("unknown kind"),
        "{body}"
    );
}

#[tokio::test]
async fn the_secret_is_shown_once_rotated_and_never_listed() {
    // The operator of a local stack allows loopback and plain HTTP.
    let app = spawn_app_with(|c| {
        c.webhooks.policy = Policy {
            allow_http: true,
            allow_private: true,
        }
    })
    .await;
    let (status, created) = register(
        &app,
        "demo",
        json!({"url": "http://127.0.0.1:9/crm", "kinds": ["contact.created"], "channel": "web"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let id = created["endpoint_id"].as_str().unwrap().to_owned();
    assert_eq!(created["webhook"]["kinds"], json!(["contact.created"]));
    assert_eq!(created["webhook"]["channel"], "web");

    let (status, list) = app.get("/v1/websites/demo/webhooks").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1, "{list}");
    let (status, one) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 200, "{one}");
    for answer in [&list, &one] {
        assert!(!answer.to_string().contains(&secret), "{answer}");
    }

    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/secret"),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, secret);
    let signing = query_api::store::webhooks::secrets(&app.pool, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(signing, vec![new.to_owned(), secret.clone()]);

    // Another website's token does not see it; nor can it test, rotate or delete it.
    let other = app.token_for(&["other"]).await;
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::POST, format!("/v1/webhooks/{id}/secret")),
        (Method::POST, format!("/v1/webhooks/{id}/test")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
    ] {
        let (status, body) = app.call(method, &path, &other, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }

    let (status, deleted) = app
        .call(Method::DELETE, &format!("/v1/webhooks/{id}"), TOKEN, None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    let (_, list) = app.get("/v1/websites/demo/webhooks").await;
    assert_eq!(list["webhooks"], json!([]), "{list}");
}

/// A metric's value in Prometheus text, by its whole name and labels.
fn metric(text: &str, name: &str) -> f64 {
    runtime::testing::metric(text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn metrics_read_the_queue_at_scrape_time_and_say_when_postgres_is_down() {
    let app = spawn_app_with(|c| {
        c.webhooks.policy = Policy {
            allow_http: true,
            allow_private: true,
        }
    })
    .await;
    let url = app.metrics_url().await;
    let scrape = || async {
        app.http
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };

    let text = scrape().await;
    assert_eq!(metric(&text, "query_api_webhook_queue_depth"), 0.0);
    assert_eq!(
        metric(&text, "query_api_webhook_oldest_pending_age_seconds"),
        0.0
    );
    assert_eq!(metric(&text, "query_api_webhook_endpoints_disabled"), 0.0);
    assert_eq!(metric(&text, "query_api_database_up"), 1.0);

    // Five test messages to two endpoints nobody dispatches: five pending, as the endpoints'
    // own counts say too.
    let mut ids = Vec::new();
    for path in ["a", "b"] {
        let (status, created) = register(
            &app,
            "demo",
            json!({ "url": format!("http://127.0.0.1:9/{path}") }),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["endpoint_id"].as_str().unwrap().to_owned());
    }
    for id in [&ids[0], &ids[0], &ids[0], &ids[1], &ids[1]] {
        let (status, queued) = app
            .call(
                Method::POST,
                &format!("/v1/webhooks/{id}/test"),
                TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200, "{queued}");
    }
    let (_, list) = app.get("/v1/websites/demo/webhooks").await;
    let pending: i64 = list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pending"].as_i64().unwrap())
        .sum();
    assert_eq!(pending, 5, "{list}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let text = scrape().await;
    assert_eq!(metric(&text, "query_api_webhook_queue_depth"), 5.0);
    assert!(metric(&text, "query_api_webhook_oldest_pending_age_seconds") > 0.0);

    // Without Postgres the scrape still answers, and says so.
    app.pool.close().await;
    let text = scrape().await;
    assert_eq!(metric(&text, "query_api_database_up"), 0.0);
}
