//! A website created through the admin path (a `website.created` event) can write within
//! seconds, without restarting ingest.

use std::time::Duration;

use e2e::Stack;
use schemas::Payload;
use schemas::payloads::WebsiteCreated;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_websites_write_key_works_without_a_restart() {
    let stack = Stack::start(3).await;
    let post = |key: &'static str| {
        stack
            .http
            .post(format!("{}/v1/events", stack.ingest_url))
            .header("X-Write-Key", key)
            .json(&json!({"type": "widget.loaded", "conversation_id": "c-new"}))
            .send()
    };
    assert_eq!(post("fresh-key").await.unwrap().status(), 401);

    let created = schemas::testing::event(
        "admin",
        "fresh-site",
        chrono::Utc::now(),
        Payload::WebsiteCreated(WebsiteCreated {
            website_id: "fresh-site".into(),
            name: "Fresh".into(),
            write_key: "fresh-key".into(),
            allowed_origins: vec![],
        }),
    );
    stack.produce(&[created]).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = post("fresh-key").await.unwrap().status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 401);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new key never started working"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (website,): (String,) =
        sqlx::query_as("SELECT website_id FROM websites WHERE write_key = 'fresh-key'")
            .fetch_one(&stack.pool)
            .await
            .unwrap();
    assert_eq!(website, "fresh-site");
}
