//! Overload: clients offering several times what ingest is configured to sustain (the offered
//! rate is printed; on this project's machine it is over ten times). Ingest must shed the excess
//! with 429 or 503 and `Retry-After` (never another error, never a hang), keep its memory
//! bounded, and lose nothing it acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

use e2e::WRITE_KEY;
use e2e::faults::FaultStack;
use e2e::ledger::{self, Load};

/// What ingest is set to sustain here, in events per second.
const SUSTAINABLE: usize = 1_000;

/// A bound on ingest's peak memory that no leak or unbounded queue would stay under: it holds
/// at most a bounded producer queue and the requests in flight.
const MEMORY_BOUND_KIB: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_sheds_three_times_its_rate_with_retry_after_and_loses_nothing() {
    let mut stack = FaultStack::start(6).await;
    stack.kill_ingest().await;
    stack.ingest_env = vec![
        (
            "INGEST_RATE_LIMIT_EVENTS_PER_S".into(),
            SUSTAINABLE.to_string(),
        ),
        ("INGEST_RATE_LIMIT_BURST".into(), SUSTAINABLE.to_string()),
        ("KAFKA_QUEUE_MAX_MESSAGES".into(), "2000".into()),
    ];
    stack.start_ingest().await;

    let stop = Arc::new(AtomicBool::new(true));
    let events = 10 * SUSTAINABLE;
    let load = Load {
        url: stack.ingest_url.clone(),
        write_key: WRITE_KEY.into(),
        events,
        batch: 25,
        // Impatient clients, retrying within 20 ms whatever they are told: together they offer
        // several times the rate (the figure is printed).
        senders: 48,
        conversations: 50,
        give_up_after: Duration::from_secs(120),
        progress: Arc::new(AtomicUsize::new(0)),
        max_backoff: Duration::from_millis(20),
    };
    let started = Instant::now();
    let ledger = ledger::send(load, stop).await;
    let elapsed = started.elapsed().as_secs_f64();
    let peak_rss_kib = stack.ingest_peak_rss_kib();
    let drained = stack.drain(Duration::from_secs(120)).await;
    let report = ledger::check(&stack.pool, &ledger).await;
    let attempts: u64 = ledger.answers.values().sum();
    let offered = attempts as f64 * 25.0 / elapsed;
    eprintln!(
        "{report}\noffered {offered:.0} events/s for {elapsed:.1}s against a rate of \
         {SUSTAINABLE}/s; ingest peak RSS {} MiB; drained {drained:?}",
        peak_rss_kib / 1024
    );

    let refused = ledger.answers.get("429").copied().unwrap_or(0)
        + ledger.answers.get("503").copied().unwrap_or(0);
    assert!(refused > 0, "nothing was shed: {:?}", ledger.answers);
    assert_eq!(ledger.answers.get("error"), None, "a request got no answer");
    assert_eq!(
        ledger.without_retry_after, 0,
        "a refusal without Retry-After"
    );
    assert!(
        peak_rss_kib < MEMORY_BOUND_KIB,
        "ingest grew to {peak_rss_kib} KiB"
    );
    assert!(drained.is_some(), "{report}");
    assert_eq!(report.acknowledged, report.sent, "{report}");
    assert_eq!(
        (report.lost, report.duplicated, report.unexpected),
        (0, 0, 0),
        "{report}"
    );
}
