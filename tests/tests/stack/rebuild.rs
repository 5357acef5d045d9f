//! `projector rebuild` while traffic flows: the next version is built from offset 0, verified
//! against the live one, and switched to without a failed request; rebuilding again gives the
//! same tables (admin actions and an erasure included); the old version can then be dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use e2e::{ADMIN_TOKEN, Stack};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);

fn session(n: usize) -> Vec<Value> {
    let c = format!("hist-{n}");
    let mut events = vec![
        json!({"event_id": Uuid::new_v4(), "type": "widget.loaded", "conversation_id": c}),
        json!({"event_id": Uuid::new_v4(), "type": "message.sent", "conversation_id": c,
               "payload": {"sender": "user", "text": format!("question {n}")}}),
        json!({"event_id": Uuid::new_v4(), "type": "message.sent", "conversation_id": c,
               "payload": {"sender": "bot", "text": "answer", "response_time_ms": 500}}),
    ];
    if n.is_multiple_of(3) {
        events.push(
            json!({"event_id": Uuid::new_v4(), "type": "contact.submitted", "conversation_id": c,
            "payload": {"request_id": format!("req-{n}"), "name": format!("Person {n}"),
                        "email": format!("p{}@example.com", n % 7)}}),
        );
    }
    events
}

fn ids(events: &[Value]) -> Vec<Uuid> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_under_live_traffic_verifies_and_switches_without_a_failed_request() {
    let stack = Arc::new(Stack::start(4).await);
    // History, with admin actions and an erasure among it.
    let history: Vec<Value> = (0..60).flat_map(session).collect();
    for chunk in history.chunks(100) {
        assert_eq!(
            stack.post_events(&json!({"batch": chunk})).await.status(),
            200
        );
    }
    stack.wait_for_events(&ids(&history), TIMEOUT).await;
    let admin = |method, path: &'static str, body| {
        let stack = stack.clone();
        async move { stack.admin(method, path, ADMIN_TOKEN, body).await }
    };
    assert_eq!(
        admin(
            Method::POST,
            "/v1/conversations/hist-1/close",
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        admin(
            Method::PATCH,
            "/v1/contact-requests/req-3",
            Some(json!({"status": "contacted"}))
        )
        .await
        .0,
        200
    );
    let (_, contacts) = admin(Method::GET, "/v1/contacts?sort=first_seen_at", None).await;
    let erased = contacts["contacts"][0]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = stack
        .admin(
            Method::DELETE,
            &format!("/v1/contacts/{erased}"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200);

    // A projection new in this release: on a schema that already had history, its table
    // starts empty and its version unrecorded (as its migration leaves them), and only a
    // rebuild fills it from the topic.
    let zone_path = "/v1/websites/e2e-site/time_zone";
    let (status, _) = admin(
        Method::PUT,
        zone_path,
        Some(json!({"time_zone": "Asia/Kolkata"})),
    )
    .await;
    assert_eq!(status, 200);
    sqlx::query("TRUNCATE website_time_zones")
        .execute(&stack.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM projection_versions WHERE table_name = 'website_time_zones'")
        .execute(&stack.pool)
        .await
        .unwrap();
    let (_, before) = admin(Method::GET, zone_path, None).await;
    assert_eq!(before["time_zone"], "UTC");

    // Live traffic and live readers for the whole rebuild.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stack, stop) = (stack.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut n = 1_000;
            while !stop.load(Ordering::Relaxed) {
                let events = session(n);
                n += 1;
                assert_eq!(
                    stack.post_events(&json!({"batch": events})).await.status(),
                    200
                );
                sent.extend(ids(&events));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (sent, n - 1_000)
        })
    };
    let reader = {
        let (stack, stop, failed, reads) =
            (stack.clone(), stop.clone(), failed.clone(), reads.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in ["/v1/conversations?limit=5", "/v1/stats", "/v1/contacts"] {
                    let (status, _) = stack.admin(Method::GET, path, ADMIN_TOKEN, None).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let output = stack.projector_command(&["rebuild"]).await;
    assert!(
        output.status.success(),
        "rebuild failed:\n{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("version 2 (rm_v2) is live"),
        "{}",
        stderr(&output)
    );
    // Readers and writers go on across the switch.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let (live_ids, live_sessions) = writer.await.unwrap();
    reader.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "a request failed during the rebuild"
    );
    assert!(reads.load(Ordering::Relaxed) > 10);

    assert_eq!(stack.live_schema().await, "rm_v2");
    let report = stderr(&output);
    let zones = report
        .lines()
        .find(|l| l.trim_start().starts_with("website_time_zones"))
        .unwrap();
    assert!(zones.ends_with("built from history"), "{zones}");
    stack.wait_for_events(&live_ids, TIMEOUT).await;
    let (_, list) = admin(Method::GET, "/v1/conversations?limit=1", None).await;
    assert_eq!(
        list["total"],
        60 + live_sessions,
        "every conversation, old and new, once"
    );
    let (_, zone) = admin(Method::GET, zone_path, None).await;
    assert_eq!(
        zone["time_zone"], "Asia/Kolkata",
        "the time zone set before its projection existed, from history"
    );
    let (_, closed) = admin(Method::GET, "/v1/conversations/hist-1", None).await;
    assert_eq!(
        closed["conversation"]["status"], "closed",
        "admin actions replayed"
    );
    let (_, request) = admin(Method::GET, "/v1/contact-requests/req-3", None).await;
    assert_eq!(request["request"]["status"], "contacted");
    let (_, gone) = stack
        .admin(
            Method::GET,
            &format!("/v1/contacts/{erased}"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        gone["contact"]["email"],
        Value::Null,
        "the erasure replayed"
    );

    // Rebuilding again from the same topic gives the same tables: the check compares every one.
    let output = stack.projector_command(&["rebuild"]).await;
    assert!(
        output.status.success(),
        "second rebuild failed:\n{}",
        stderr(&output)
    );
    let report = stderr(&output);
    assert!(report.contains("version 3 (rm_v3) is live"), "{report}");
    assert!(!report.contains("DIFFERENT"), "{report}");
    for table in [
        "conversations",
        "contacts",
        "event_log",
        "contact_requests",
        // Kept by triggers live, recomputed once by the rebuild.
        "started_quarters",
        "visits",
        "visitor_quarters",
    ] {
        let line = report
            .lines()
            .find(|l| l.trim_start().starts_with(table))
            .unwrap();
        assert!(line.ends_with("equal"), "{line}");
    }

    let versions = stack.projector_command(&["versions"]).await;
    let listed = String::from_utf8_lossy(&versions.stdout).into_owned();
    assert!(listed.contains("rm_v3      live"), "{listed}");
    assert!(listed.contains("public     retired"), "{listed}");
    let refused = stack.projector_command(&["drop-version", "3"]).await;
    assert!(
        !refused.status.success(),
        "the live version must not be dropped"
    );
    for old in ["1", "2"] {
        let dropped = stack.projector_command(&["drop-version", old]).await;
        assert!(dropped.status.success(), "{}", stderr(&dropped));
    }
    let (status, after) = admin(Method::GET, "/v1/conversations?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(after["total"], list["total"]);
}
