//! What operators scrape from query-api: requests by route and status with their latency,
//! rows exported, open streams and the build, against counts the test makes itself.

use crate::common::{TOKEN, spawn_app, two_websites};

#[tokio::test]
async fn requests_exports_and_the_build_are_counted_as_they_happen() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let url = app.metrics_url().await;

    for _ in 0..3 {
        assert_eq!(app.get("/v1/conversations").await.0, 200);
    }
    assert_eq!(app.get("/v1/conversations/no-such-one").await.0, 404);
    let csv = app
        .fetch("/v1/exports/conversations?format=csv", Some(TOKEN))
        .await;
    assert_eq!(csv.status(), 200);
    let exported = csv.text().await.unwrap().lines().count() - 1;
    assert!(exported > 0);

    let text = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"query_api_http_requests_total{route="/v1/conversations",status="200"} 3"#.to_owned(),
        r#"query_api_http_requests_total{route="/v1/conversations/{id}",status="404"} 1"#
            .to_owned(),
        r#"query_api_http_request_duration_seconds_count{route="/v1/conversations"} 3"#.to_owned(),
        format!(r#"query_api_export_rows_total{{format="csv"}} {exported}"#),
        "query_api_streams_open 0".to_owned(),
        "query_api_exports_running 0".to_owned(),
        r#"query_api_build_info{version="0.1.0",commit="unknown"} 1"#.to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
