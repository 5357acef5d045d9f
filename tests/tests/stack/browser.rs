//! The dashboard in a real browser: `tests/browser/dashboard.py` drives headless Chromium
//! (Debian's, through Playwright) against a stack holding one conversation and its contact
//! request. It logs in, filters (and sees a new conversation arrive), opens the transcript, moves
//! the request on, sees a new request arrive without reloading, and sets up and sends the weekly
//! report, which must reach the stack's mail catcher once. Screenshots of each step are kept in
//! `.data/test-artifacts/browser/`.
//!
//! `deploy/dev test` installs Chromium (apt) and Playwright (into `~/.cache/colloquy/venv`)
//! and names them in `COLLOQUY_CHROMIUM` and `COLLOQUY_PYTHON`.

use std::path::PathBuf;
use std::time::Duration;

use e2e::{ADMIN_TOKEN, Stack, WEBSITE, WRITE_KEY};
use serde_json::json;
use tokio::process::Command;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_works_through_the_dashboard_and_sees_a_request_arrive_live() {
    let python = e2e::installed("COLLOQUY_PYTHON");
    let chromium = e2e::installed("COLLOQUY_CHROMIUM");
    let stack = Stack::start(2).await;
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let response = stack
        .post_events(&json!([
            {"event_id": ids[0], "type": "widget.loaded", "conversation_id": "browser-1", "payload": {}},
            {"event_id": ids[1], "type": "message.sent", "conversation_id": "browser-1",
             "payload": {"sender": "user", "text": "Do you ship to Norway?"}},
            {"event_id": ids[2], "type": "message.sent", "conversation_id": "browser-1",
             "payload": {"sender": "bot", "text": "Yes, in 3 days.", "response_time_ms": 800}},
            {"event_id": ids[3], "type": "contact.submitted", "conversation_id": "browser-1",
             "payload": {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Call me"}},
        ]))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    stack.wait_for_events(&ids, Duration::from_secs(30)).await;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = root.join(".data/test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let output = Command::new(python)
        .arg(root.join("tests/browser/dashboard.py"))
        .env("COLLOQUY_QUERY_URL", &stack.query_url)
        .env("COLLOQUY_INGEST_URL", &stack.ingest_url)
        .env("COLLOQUY_TOKEN", ADMIN_TOKEN)
        .env("COLLOQUY_WRITE_KEY", WRITE_KEY)
        .env("COLLOQUY_WEBSITE", WEBSITE)
        .env("COLLOQUY_ARTIFACTS", &artifacts)
        .env("COLLOQUY_CHROMIUM", chromium)
        .output()
        .await
        .expect("run the browser test");
    assert!(
        output.status.success(),
        "the dashboard failed in the browser (screenshots in {}):\n{}\n{}",
        artifacts.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The report the dashboard sent reached the mail catcher, once.
    let mails = stack.mail.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, ["owner@shop.example"]);
    assert!(
        mails[0]
            .header("subject")
            .is_some_and(|s| s.starts_with(&format!("Weekly report for {WEBSITE}"))),
        "{:?}",
        mails[0].header("subject")
    );
}
