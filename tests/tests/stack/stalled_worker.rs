//! A worker that hangs while its process lives (a failpoint makes one stop coming round its
//! loop, mid-load): the process notices within `PROJECTOR_WORKER_STALL_S`, gives the worker's
//! partitions up so the other worker takes them, starts it again, and the topic drains with
//! every acknowledged event in the read models exactly once.
//!
//! The long form is `COLLOQUY_STALL_EVENTS=60000 deploy/dev test -E 'test(/stalled_worker/)'`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use e2e::ledger::{self, Load};
use e2e::{Stack, free_port};

const PARTITIONS: i32 = 12;

/// The workers holding the topic's partitions under live leases, one entry per partition held.
async fn holders(stack: &Stack) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT owner_worker FROM colloquy.projector_leases
         WHERE topic = $1 AND expires_at > now() AND owner_worker IS NOT NULL",
    )
    .bind(&stack.topic)
    .fetch_all(&stack.pool)
    .await
    .unwrap_or_default()
}

/// Waits until every partition is held and each of the two workers holds some; panics with
/// the holders after a minute.
async fn both_workers_hold_a_share(stack: &Stack) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held = holders(stack).await;
        if held.len() == PARTITIONS as usize && held.contains(&0) && held.contains(&1) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "held: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_worker_gives_up_its_partitions_and_is_started_again_with_an_exact_ledger() {
    let events = e2e::setting("COLLOQUY_STALL_EVENTS", 6_000);
    let mut stack = Stack::start(PARTITIONS).await;
    stack.kill_projector().await;
    let failpoint = std::env::temp_dir().join(format!("colloquy-hang-{}", uuid::Uuid::new_v4()));
    let port = free_port();
    let _projector = stack.another_projector_with(
        port,
        &[
            ("PROJECTOR_WORKERS", "2"),
            ("PROJECTOR_WORKER_STALL_S", "2"),
            ("PROJECTOR_FAILPOINT_HANG", failpoint.to_str().unwrap()),
        ],
    );
    let metrics = format!("http://127.0.0.1:{port}");
    both_workers_hold_a_share(&stack).await;

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let load = Load::steady(&stack.ingest_url, events, progress.clone());
    let sender = tokio::spawn(ledger::send(load, stop.clone()));
    while progress.load(Ordering::Relaxed) < events / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::write(&failpoint, b"hang").unwrap();
    // The worker that found the file hangs; the process gives its partitions up and starts it
    // again.
    stack
        .wait_for_metrics_of(&metrics, Duration::from_secs(60), |text| {
            text.lines()
                .any(|l| l == "projector_workers_restarted_total 1")
        })
        .await;
    assert!(!failpoint.exists(), "no worker took the failpoint");

    stop.store(true, Ordering::Relaxed);
    let ledger = sender.await.unwrap();
    let drained = stack.wait_until_caught_up(Duration::from_secs(300)).await;
    let report = ledger::check(&stack.pool, &ledger).await;
    let epochs: i64 = sqlx::query_scalar(
        "SELECT sum(epoch)::bigint FROM colloquy.projector_leases WHERE topic = $1",
    )
    .bind(&stack.topic)
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    eprintln!("{report}\nstored offsets {drained:?}; lease epochs sum to {epochs}");
    let mut high = stack.high_watermarks();
    high.retain(|(_, h)| *h > 0);
    high.sort();
    assert_eq!(drained, high, "every record read: {report}");
    report.assert_exact();
    // The hung worker's partitions changed hands: more grants than the first twelve.
    assert!(
        epochs > i64::from(PARTITIONS),
        "lease epochs sum to {epochs}"
    );
    // And the worker started again holds a share once more.
    both_workers_hold_a_share(&stack).await;
}
