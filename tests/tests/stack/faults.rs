//! The fault suite: load through the real stack (ingest, broker, projector, Postgres) while each
//! component is killed, frozen, stopped or cut off in turn. Afterwards the ledger of what ingest
//! acknowledged must match the read models: every acknowledged event exactly once, nothing that
//! was never sent, stored offsets never going backwards, and the backlog drained in bounded time.
//!
//! The short form runs in CI; the long form is
//! `COLLOQUY_FAULT_EVENTS=1000000 COLLOQUY_FAULT_ROUNDS=10 deploy/dev test -E 'test(/^faults::/)'`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::WRITE_KEY;
use e2e::faults::{DELIVERY_TIMEOUT_MS, FaultStack};
use e2e::ledger::{self, Load};

const FAULTS: [&str; 8] = [
    "SIGKILL ingest",
    "SIGKILL projector",
    "SIGKILL broker",
    "SIGSTOP broker past the delivery timeout",
    "SIGKILL Postgres",
    "Postgres connections cut",
    "SIGTERM ingest",
    "SIGTERM projector",
];

async fn inject(stack: &mut FaultStack, fault: &str) {
    let down = Duration::from_millis(300);
    match fault {
        "SIGKILL ingest" => {
            stack.kill_ingest().await;
            tokio::time::sleep(down).await;
            stack.start_ingest().await;
        }
        "SIGKILL projector" => {
            stack.kill_projector().await;
            tokio::time::sleep(down).await;
            stack.start_projector();
        }
        "SIGKILL broker" => {
            stack.broker.kill().await;
            tokio::time::sleep(down).await;
            stack.broker.restart().await;
        }
        "SIGSTOP broker past the delivery timeout" => {
            stack
                .broker
                .freeze(Duration::from_millis(DELIVERY_TIMEOUT_MS + 1_000))
                .await;
        }
        "SIGKILL Postgres" => {
            stack.postgres_server.kill().await;
            tokio::time::sleep(down).await;
            stack.postgres_server.restart().await;
        }
        "Postgres connections cut" => {
            stack.cut_postgres_connections().await;
        }
        "SIGTERM ingest" => {
            let status = stack.terminate_ingest().await;
            assert!(status.success(), "ingest exited with {status} on SIGTERM");
            stack.start_ingest().await;
        }
        "SIGTERM projector" => {
            let status = stack.terminate_projector().await;
            assert!(
                status.success(),
                "the projector exited with {status} on SIGTERM"
            );
            stack.start_projector();
        }
        other => panic!("unknown fault {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_is_projected_exactly_once_through_every_fault() {
    let events = e2e::setting("COLLOQUY_FAULT_EVENTS", 20_000);
    let rounds = e2e::setting("COLLOQUY_FAULT_ROUNDS", 1);
    let mut stack = FaultStack::start(6).await;
    let started = Instant::now();

    let stop_load = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let load = Load {
        url: stack.ingest_url.clone(),
        write_key: WRITE_KEY.into(),
        events,
        batch: 50,
        senders: 4,
        conversations: 100,
        give_up_after: Duration::from_secs(120),
        progress: progress.clone(),
        max_backoff: Duration::from_secs(1),
    };
    let sender = tokio::spawn(ledger::send(load, stop_load.clone()));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watch = ledger::watch_offsets(stack.pool.clone(), stack.topic.clone(), stop_watch.clone());

    // The faults are spread evenly over the load: the k-th of n once k/(n+1) of the events
    // are acknowledged.
    let mut injected: BTreeMap<&str, u32> = BTreeMap::new();
    let total = rounds * FAULTS.len();
    for k in 0..total {
        let due = (k + 1) * events / (total + 1);
        while progress.load(Ordering::Relaxed) < due {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let fault = FAULTS[k % FAULTS.len()];
        inject(&mut stack, fault).await;
        *injected.entry(fault).or_default() += 1;
    }
    stop_load.store(true, Ordering::Relaxed);
    let ledger = sender.await.unwrap();
    let loaded = started.elapsed();
    let drained = stack.drain(Duration::from_secs(180)).await;
    stop_watch.store(true, Ordering::Relaxed);
    let watch = watch.await.unwrap();
    let report = ledger::check(&stack.pool, &ledger).await;
    eprintln!(
        "faults injected: {injected:?}\n{report}\nload ran {:.1}s; drained {:?} after the faults \
         stopped; stored offsets sampled {} times",
        loaded.as_secs_f64(),
        drained,
        watch.samples
    );

    assert!(drained.is_some(), "the backlog did not drain: {report}");
    assert_eq!(report.gave_up, 0, "{report}");
    assert_eq!(report.acknowledged, report.sent, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.duplicated, 0, "{report}");
    assert_eq!(report.unexpected, 0, "{report}");
    assert!(
        watch.backwards.is_empty(),
        "stored offsets went backwards: {:?}",
        watch.backwards
    );
    assert!(watch.samples > 0);
}
