//! A token made for some websites never sees another website's data, on any route.

use serde_json::{Value, json};

use crate::common::{spawn_app, two_websites};

/// Every read route, with what of website `b` it must not reveal.
const READS: [&str; 16] = [
    "/v1/conversations",
    "/v1/conversations?q=Hello",
    "/v1/contacts",
    "/v1/contact-requests",
    "/v1/stats?from=2026-09-01&to=2026-09-30",
    "/v1/websites",
    "/admin/conversations",
    "/admin/stats",
    "/api/contact/requests",
    "/api/v1/contacts",
    "/analytics/summary?start_date=2026-09-01&end_date=2026-09-30",
    "/analytics/export?start_date=2026-09-01&end_date=2026-09-30",
    "/v1/conversations/x1",
    "/admin/conversations/x1",
    "/v1/contact-requests/req-b",
    "/v1/conversations?website_id=b",
];

#[tokio::test]
async fn a_token_for_one_website_sees_nothing_of_another() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let token = app.token_for(&["a"]).await;
    for path in READS {
        let (status, body) = app.get_as(&token, path).await;
        let text = body.to_string();
        assert!(
            !text.contains("x1") && !text.contains("bob@b.example") && !text.contains("req-b"),
            "{path} leaked website b: {text}"
        );
        assert!(status == 200 || status == 404, "{path}: {status} {text}");
    }
    // Its own website it does see.
    let (_, list) = app.api_as(&token).conversations("").await;
    assert_eq!(list["count"], 3);
    let (_, stats) = app.api_as(&token).admin_stats("").await;
    assert_eq!(stats["stats"]["total_conversations"], 3);
}

#[tokio::test]
async fn a_token_cannot_act_on_another_website_or_mint_wider_tokens() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let token = app.token_for(&["a"]).await;
    let act = |method: reqwest::Method, path: &'static str, body: Value| {
        let token = token.clone();
        let app = &app;
        async move { app.call(method, path, &token, Some(body)).await.0 }
    };
    assert_eq!(
        act(
            reqwest::Method::POST,
            "/v1/conversations/x1/close",
            json!({})
        )
        .await,
        404
    );
    assert_eq!(
        act(
            reqwest::Method::PATCH,
            "/v1/contact-requests/req-b",
            json!({"status": "contacted"})
        )
        .await,
        404
    );
    assert_eq!(
        act(
            reqwest::Method::POST,
            "/v1/tokens",
            json!({"websites": ["a"]})
        )
        .await,
        403,
        "a token not granted the right to mint"
    );
    let (status, minter) = app
        .api()
        .create_token(json!({"websites": ["a"], "may_mint": true}))
        .await;
    assert_eq!(status, 201, "{minter}");
    let (status, wider) = app
        .call(
            reqwest::Method::POST,
            "/v1/tokens",
            minter["token"].as_str().unwrap(),
            Some(json!({"websites": ["b"]})),
        )
        .await;
    assert_eq!(status, 400, "{wider}");
    assert_eq!(
        act(reqwest::Method::POST, "/v1/websites", json!({"name": "x"})).await,
        403
    );
    // Unchanged for the bootstrap token.
    let (_, x1) = app.api().conversation("x1", "").await;
    assert_eq!(x1["conversation"]["status"], "active");
}

#[tokio::test]
async fn an_unknown_or_malformed_token_is_401() {
    let app = spawn_app().await;
    for token in ["cq_not-a-real-token", "nonsense", ""] {
        assert_eq!(
            app.api_as(token).conversations("").await.0,
            401,
            "{token:?}"
        );
    }
}

/// A request without a valid token causes no database work but its token's check: with the
/// projector's position locked (as a stuck transaction would), it is still refused at once.
#[tokio::test]
async fn the_token_is_checked_before_any_other_database_work() {
    let app = spawn_app().await;
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE projector_offsets IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    for token in [None, Some("nonsense")] {
        // A hang here (the position read waiting for the lock) fails the test, not the suite.
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            app.fetch("/v1/stats", token),
        )
        .await
        .expect("an unauthenticated request waited for the database");
        assert_eq!(answer.status(), 401, "{token:?}");
    }
    lock.rollback().await.unwrap();
}

/// Guessing costs time: past `AUTH_FAILURES_PER_MINUTE` wrong tokens, the address is answered
/// 429 with `Retry-After` whatever it sends, the right token included; a request without a
/// token is no guess and does not count.
#[tokio::test]
async fn wrong_tokens_from_one_address_are_refused_for_a_while() {
    let app = crate::common::spawn_app_with(|c| c.auth_failures_per_minute = 3).await;
    for _ in 0..5 {
        assert_eq!(app.fetch("/v1/conversations", None).await.status(), 401);
    }
    for guess in ["guess-1", "cq_guess-2", "guess-3"] {
        assert_eq!(app.api_as(guess).conversations("").await.0, 401, "{guess}");
    }
    for token in ["guess-4", crate::common::TOKEN] {
        let refused = app.fetch("/v1/conversations", Some(token)).await;
        assert_eq!(refused.status(), 429, "{token}");
        let retry: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
}

/// Behind a trusted load balancer, each client the proxy names has its own allowance: one
/// guessing client does not lock every admin out.
#[tokio::test]
async fn behind_a_trusted_proxy_wrong_tokens_count_per_forwarded_client() {
    let app = crate::common::spawn_app_with(|c| {
        c.auth_failures_per_minute = 3;
        c.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    let from = |client: &'static str, token: &'static str| {
        app.http
            .get(format!("{}/v1/conversations", app.url))
            .bearer_auth(token)
            .header("X-Forwarded-For", client)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(from("198.51.100.1", "guess").await.unwrap().status(), 401);
    }
    assert_eq!(
        from("198.51.100.1", crate::common::TOKEN)
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        from("198.51.100.2", crate::common::TOKEN)
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn privacy_settings_are_set_by_event_and_only_for_websites_the_token_sees() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, before) = app.api().privacy("a").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["anonymize_ip"],
        Value::Null,
        "not set through the API yet"
    );

    let token = app.token_for(&["a"]).await;
    let put = |website: &'static str, body: Value| {
        let token = token.clone();
        let app = &app;
        async move {
            app.call(
                reqwest::Method::PUT,
                &format!("/v1/websites/{website}/privacy"),
                &token,
                Some(body),
            )
            .await
        }
    };
    let (status, body) = put("a", json!({"anonymize_ip": true})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["event_id"].is_string());
    let (_, after) = app.api_as(&token).privacy("a").await;
    assert_eq!(after["anonymize_ip"], true);

    assert_eq!(put("b", json!({"anonymize_ip": true})).await.0, 403);
    assert_eq!(app.api_as(&token).privacy("b").await.0, 403);
    let (status, body) = put("a", json!({"anonymise_ip": true})).await;
    assert_eq!(status, 400, "an unknown field is an error: {body}");
}

/// The projector's per-partition positions count every tenant's traffic: only the bootstrap
/// token sees them; a scoped token sees when the projector last committed.
#[tokio::test]
async fn a_scoped_token_sees_no_other_tenants_positions() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let token = app.token_for(&["a"]).await;
    for path in [
        "/v1/conversations",
        "/v1/contacts",
        "/v1/stats?from=2026-09-01&to=2026-09-30",
    ] {
        let (_, all) = app.get(path).await;
        assert!(
            !all["as_of"]["position"].as_object().unwrap().is_empty(),
            "{path}: {all}"
        );
        let (status, scoped) = app.get_as(&token, path).await;
        assert_eq!(status, 200, "{path}: {scoped}");
        assert_eq!(scoped["as_of"]["position"], json!({}), "{path}");
        assert_eq!(
            scoped["as_of"]["projected_at"],
            all["as_of"]["projected_at"]
        );
    }
}
