//! Whoever can produce to the topic cannot mint authority: admin records without query-api's
//! proof of origin are dead-lettered with the reason and change nothing, and a replay of the
//! dead-letter topic leaves them parked.

use std::time::Duration;

use e2e::{Stack, WEBSITE};
use reqwest::Method;
use runtime::kafka::Record;
use schemas::Payload;
use schemas::payloads::{TokenCreated, WebsiteCreated};
use serde_json::json;

fn unproven(event: &schemas::Event) -> Record {
    Record::new(event.conversation_id.clone(), event.encode().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_admin_records_change_nothing_and_are_dead_lettered() {
    let stack = Stack::start(1).await;
    let chosen = "cq_chosen-by-whoever-can-produce";
    let token = schemas::testing::event(
        WEBSITE,
        "token:forged",
        chrono::Utc::now(),
        Payload::TokenCreated(TokenCreated {
            token_digest: query_api::auth::digest(chosen),
            websites: vec![WEBSITE.into()],
            name: None,
            expires_at: None,
            may_mint: true,
        }),
    );
    let website = schemas::testing::event(
        "forged-site",
        "forged-site",
        chrono::Utc::now(),
        Payload::WebsiteCreated(WebsiteCreated {
            website_id: "forged-site".into(),
            name: "Forged".into(),
            write_key: "forged-key".into(),
            allowed_origins: vec![],
        }),
    );
    // One with a proof made with a key the stack does not hold.
    let mut guessed = unproven(&website);
    let other = runtime::proof::AdminKeys::parse("dev:a-guessed-secret").unwrap();
    guessed.headers.push((
        schemas::topics::PROOF_HEADER,
        other.sign(guessed.key.as_bytes(), &guessed.value),
    ));
    stack.produce_records(vec![unproven(&token), guessed]).await;

    // Both are parked, each with its reason.
    let mut listed = String::new();
    for _ in 0..300 {
        let list = stack.projector_command(&["dlq", "list"]).await;
        listed = String::from_utf8_lossy(&list.stdout).into_owned();
        if listed.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("without a proof of origin"), "{listed}");
    assert!(listed.contains("does not match"), "{listed}");

    // Nothing changed: the chosen token is unknown and the chosen write key does not write.
    assert_eq!(
        stack
            .admin(Method::GET, "/v1/conversations", chosen, None)
            .await
            .0,
        401
    );
    let write = stack
        .http
        .post(format!("{}/v1/events", stack.ingest_url))
        .header("X-Write-Key", "forged-key")
        .json(&json!({"type": "widget.loaded", "conversation_id": "c-forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401);

    // A replay of the dead-letter topic applies neither.
    let replay = stack.projector_command(&["dlq", "replay"]).await;
    let report = String::from_utf8_lossy(&replay.stderr).into_owned();
    assert!(replay.status.success(), "{report}");
    assert!(
        report.contains("0 applied now, 0 applied before, 2 still parked"),
        "{report}"
    );
    assert_eq!(
        stack
            .admin(Method::GET, "/v1/conversations", chosen, None)
            .await
            .0,
        401
    );
}
