//! What a request carries besides its events: headers, origins, sizes, addresses, devices.

use super::*;

/// Every answer says it is what its `Content-Type` says, errors and health checks included.
#[tokio::test]
async fn every_answer_carries_nosniff() {
    let app = spawn_app().await;
    let accepted = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("X-Write-Key", KEY)
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    let refused = app
        .http
        .post(format!("{}/v1/events", app.url))
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    let health = app
        .http
        .get(format!("{}/_liveness", app.url))
        .send()
        .await
        .unwrap();
    for response in [accepted, refused, health] {
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{}",
            response.status()
        );
    }
}

#[tokio::test]
async fn a_website_with_an_origin_allow_list_refuses_other_origins() {
    let app = spawn_app().await;
    let send = |origin: &'static str| {
        app.http
            .post(format!("{}/v1/events", app.url))
            .header("Origin", origin)
            .header("X-Write-Key", SHOP_KEY)
            .json(&message("c-1", "user"))
            .send()
    };
    assert_eq!(send("https://shop.example").await.unwrap().status(), 200);
    let refused = send("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "origin_not_allowed"
    );
    assert_eq!(app.sink.records().len(), 1);
}

#[tokio::test]
async fn an_event_over_the_size_limit_is_rejected_alone_and_alone_it_is_413() {
    let app = spawn_app().await;
    let mut big = message("c-1", "user");
    big["payload"]["text"] = json!("x".repeat(5 * 1024));
    let (status, _, body) = app
        .post(json!([message("c-1", "user"), big.clone()]).to_string())
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 1);
    assert!(
        body["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("event too large"),
        "{body}"
    );
    let (status, _, body) = app.post(big.to_string()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "payload_too_large");
}

#[tokio::test]
async fn the_client_ip_comes_from_x_forwarded_for_only_through_a_trusted_proxy() {
    // The test server trusts 127.0.0.1, the address every test request comes from.
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("X-Write-Key", KEY)
        .header("X-Forwarded-For", "198.51.100.23")
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored()[0]["context"]["ip"], "198.51.100.23");
}

#[tokio::test]
async fn the_device_type_is_derived_from_the_user_agent() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("X-Write-Key", KEY)
        .header(
            "User-Agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        )
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.stored()[0]["context"]["device"], "mobile");
}
