//! SIGTERM drains: the ingest binary stops accepting, finishes the requests in flight, and
//! exits cleanly; the projector finishes its batch and exits.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_before_ingest_exits() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = e2e::bin_dir().join("ingest");
    assert!(binary.exists(), "{} not built", binary.display());
    // A broker that is not there keeps the request in flight for the delivery timeout.
    let mut child = Command::new(&binary)
        .env("INGEST_ADDR", format!("127.0.0.1:{port}"))
        .env("INGEST_METRICS_ADDR", "off")
        .env("KAFKA_BROKERS", "127.0.0.1:1")
        .env("KAFKA_DELIVERY_TIMEOUT_MS", "2000")
        .env("INGEST_WEBSITES", "site=key")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/_liveness")).send().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let in_flight = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(format!("{url}/v1/events"))
                .header("X-Write-Key", "key")
                .json(&json!({"type": "widget.loaded", "conversation_id": "c"}))
                .timeout(Duration::from_secs(30))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // The request in flight still gets its answer (503: the broker never acknowledged) ...
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered, not cut off");
    assert_eq!(response.status(), 503);
    // ... and the process then exits on its own, successfully.
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("ingest exited")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn sigterm_ends_the_projector_process_after_its_batch() {
    let mut stack = e2e::Stack::start(3).await;
    let response = stack
        .post_events(&json!({"type": "widget.loaded", "conversation_id": "before-stop"}))
        .await;
    assert_eq!(response.status(), 200);
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    // A liveness guard, not a performance bound: before the fix the process never exited
    // (a blocking loop kept the runtime from shutting down).
    let status = tokio::time::timeout(Duration::from_secs(60), stack.stop_projector())
        .await
        .expect("the projector exits after SIGTERM");
    assert!(status.success(), "{status}");
}
