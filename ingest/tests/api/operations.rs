//! What operators rely on: metrics and the rate limit.

use super::*;

#[tokio::test]
async fn metrics_count_requests_and_accepted_and_rejected_events() {
    let sink = MemorySink::default();
    let mut config = config();
    config.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let (api, metrics) = ingest::build_parts(&config, Arc::new(sink.clone()))
        .await
        .unwrap();
    let metrics = metrics.unwrap();
    let metrics_url = format!("http://{}", metrics.local_addr());
    let app = TestApp {
        url: format!("http://{}", api.local_addr()),
        sink,
        http: reqwest::Client::new(),
    };
    tokio::spawn(api.run_until_stopped(std::future::pending()));
    tokio::spawn(metrics.run_until_stopped(std::future::pending()));
    let batch = json!([message("c-1", "user"), message("c-1", "robot")]);
    assert_eq!(app.post(batch.to_string()).await.0, 200);
    // Not on the public port.
    let public = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let response = app
        .http
        .get(format!("{metrics_url}/metrics"))
        .header("Origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "readable cross-origin"
    );
    let text = response.text().await.unwrap();
    for line in [
        "ingest_events_accepted_total 1",
        r#"ingest_events_rejected_total{reason="invalid"} 1"#,
        r#"ingest_http_requests_total{route="/v1/events",status="200"} 1"#,
        r#"ingest_http_request_duration_seconds_count{route="/v1/events"} 1"#,
        "ingest_produce_latency_seconds_count 1",
        // A library is not a binary: no commit was recorded.
        r#"ingest_build_info{version="0.1.0",commit="unknown"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn over_the_rate_limit_a_write_key_gets_429_with_retry_after_and_nothing_is_stored() {
    let mut config = config();
    // One event per 100 s after a burst of 3: the limit cannot refill during the test.
    config.limits.rate_limit_events_per_s = 0.01;
    config.limits.rate_limit_burst = 3;
    let sink = MemorySink::default();
    let app = ingest::build(&config, Arc::new(sink.clone()))
        .await
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let app = TestApp {
        url,
        sink,
        http: reqwest::Client::new(),
    };

    let three = json!([
        message("c", "user"),
        message("c", "bot"),
        message("c", "user")
    ]);
    assert_eq!(app.post(three.to_string()).await.0, 200);
    let (status, headers, body) = app.post(message("c", "user").to_string()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(app.sink.records().len(), 3);
}
