//! The forms a body comes in: NDJSON, beacons, Basic auth, gzip, content types, clocks, CORS.

use super::*;

#[tokio::test]
async fn ndjson_events_are_accepted_line_by_line_and_a_bad_line_is_rejected_alone() {
    let app = spawn_app().await;
    let body = format!(
        "{}\n{{oops\n{}\n",
        message("c-1", "user"),
        message("c-1", "bot")
    );
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[
                ("X-Write-Key", KEY),
                ("Content-Type", "application/x-ndjson"),
            ],
            body.into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert_eq!(app.sink.records().len(), 2);
}

#[tokio::test]
async fn a_send_beacon_request_with_the_key_in_the_query_string_is_accepted() {
    let app = spawn_app().await;
    let body = json!({"batch": [message("c-1", "user")]})
        .to_string()
        .into_bytes();
    let (status, _) = app
        .post_raw(
            &format!("/v1/events?write_key={KEY}"),
            &[
                ("Content-Type", "text/plain;charset=UTF-8"),
                ("Origin", "https://shop.example"),
            ],
            body,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.stored()[0]["context"]["channel"],
        "frame",
        "browser requests default to the widget channel"
    );
}

#[tokio::test]
async fn http_basic_auth_carries_the_write_key_as_user_name() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .basic_auth(KEY, None::<&str>)
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn gzip_bodies_are_accepted_with_or_without_the_header() {
    let app = spawn_app().await;
    let body = gzip(
        json!([message("c-1", "user"), message("c-2", "bot")])
            .to_string()
            .as_bytes(),
    );
    let declared = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY), ("Content-Encoding", "gzip")],
            body.clone(),
        )
        .await;
    assert_eq!((declared.0, &declared.1["accepted"]), (200, &json!(2)));
    let sniffed = app
        .post_raw("/v1/events", &[("X-Write-Key", KEY)], body)
        .await;
    assert_eq!((sniffed.0, &sniffed.1["accepted"]), (200, &json!(2)));
}

#[tokio::test]
async fn a_gzip_bomb_is_413_and_stores_nothing() {
    let app = spawn_app().await;
    // 16 MiB of spaces compress to a few KiB: under the 64 KiB body limit, far over it inflated.
    let bomb = gzip(&vec![b' '; 16 * 1024 * 1024]);
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY), ("Content-Encoding", "gzip")],
            bomb,
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("decompressed"),
        "{body}"
    );
    assert!(app.sink.records().is_empty());
}

#[tokio::test]
async fn an_unsupported_content_type_is_415_and_invalid_utf8_is_400() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY), ("Content-Type", "application/xml")],
            b"<e/>".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, body) = app
        .post_raw(
            "/v1/events",
            &[("X-Write-Key", KEY)],
            b"{\"type\": \"\xff\"}".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("UTF-8"),
        "{body}"
    );
}

#[tokio::test]
async fn a_client_clock_ahead_by_an_hour_is_corrected_with_sent_at() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let ahead = now + chrono::Duration::hours(1);
    let mut event = message("c-1", "user");
    event["occurred_at"] = json!(ahead.to_rfc3339());
    let body = json!({"batch": [event], "sent_at": ahead.to_rfc3339()});
    assert_eq!(app.post(body.to_string()).await.0, 200);
    let stored = &app.stored()[0];
    let occurred: chrono::DateTime<chrono::Utc> =
        stored["occurred_at"].as_str().unwrap().parse().unwrap();
    let received: chrono::DateTime<chrono::Utc> =
        stored["received_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        occurred, received,
        "the event happened just as it was sent, by the server's clock"
    );
}

#[tokio::test]
async fn a_browser_preflight_is_answered_and_a_cross_origin_post_carries_cors_headers() {
    let app = spawn_app().await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/events", app.url))
        .header("Origin", "https://blog.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type,x-write-key")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://blog.example");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("x-write-key") && allowed.contains("content-type"),
        "{allowed}"
    );

    let post = app
        .http
        .post(format!("{}/v1/events", app.url))
        .header("Origin", "https://blog.example")
        .header("X-Write-Key", KEY)
        .json(&message("c-1", "user"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(
        post.headers()["access-control-allow-origin"],
        "https://blog.example"
    );
}
