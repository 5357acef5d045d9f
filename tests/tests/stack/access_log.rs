//! Request ids and the access log, as an operator reads them from a running binary: the id a
//! caller sends comes back in the answer and is on the request's log line, which says the
//! method, route, status and latency and nothing of the write key.

use std::process::Stdio;
use std::time::Duration;

use e2e::{bin_dir, free_port};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn a_requests_id_is_answered_and_on_its_access_log_line_without_the_key() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut ingest = Command::new(bin_dir().join("ingest"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("INGEST_ADDR", &addr)
        .env("INGEST_METRICS_ADDR", "off")
        .env("INGEST_SINK", "memory")
        .env("INGEST_WEBSITES", "shop=secret-key-4711")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start ingest");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("http://{addr}/_liveness"))
        .send()
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = http
        .post(format!("http://{addr}/v1/events?write_key=secret-key-4711"))
        .header("X-Request-Id", "lb-trace-0042")
        .json(&serde_json::json!({"type": "widget.loaded", "conversation_id": "c-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-request-id"], "lb-trace-0042");
    // Without one, an id is made and answered.
    let made = http
        .get(format!("http://{addr}/_liveness"))
        .send()
        .await
        .unwrap();
    assert!(
        uuid::Uuid::parse_str(made.headers()["x-request-id"].to_str().unwrap()).is_ok(),
        "{:?}",
        made.headers()
    );

    let mut lines = BufReader::new(ingest.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("lb-trace-0042") {
                return line;
            }
        }
        panic!("ingest's log ended without the request's line");
    })
    .await
    .expect("the request's log line");
    let logged: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(logged["target"], "access", "{logged:#}");
    assert_eq!(logged["span"]["request_id"], "lb-trace-0042", "{logged:#}");
    assert_eq!(logged["method"], "POST");
    assert_eq!(logged["route"], "/v1/events");
    assert_eq!(logged["status"], 200);
    assert!(logged["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(!line.contains("secret-key-4711"), "{line}");
}
