//! Projector scale-out: three projector processes share the topic's partitions through their
//! leases in Postgres while events stream in, and are killed (SIGKILL), stopped (SIGTERM) or
//! frozen past their leases (SIGSTOP, then SIGCONT: a process that wakes up to find its
//! partitions taken) in turn; the others take the partitions over while one is down.
//! Afterwards every acknowledged event is in the read models exactly once, the stored offsets
//! never went backwards, and the partitions are shared by all three again.
//!
//! The short form runs in CI; the long form is
//! `COLLOQUY_SCALE_EVENTS=200000 COLLOQUY_SCALE_ROUNDS=15 deploy/dev test -E 'test(/^scale_out::/)'`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use e2e::Stack;
use e2e::ledger::{self, Load};
use tokio::process::Child;

const PROCESSES: usize = 3;
const PARTITIONS: i32 = 12;

/// The process holding each partition of the stack's topic under a lease that has not
/// expired, by pid (the process names itself `host:pid`); `None` where none does.
async fn holders(stack: &Stack) -> Vec<Option<u32>> {
    let rows: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT CASE WHEN l.expires_at > now() THEN i.name END
         FROM colloquy.projector_leases l
         LEFT JOIN colloquy.projector_instances i ON i.id = l.owner_instance
         WHERE l.topic = $1 ORDER BY l.partition",
    )
    .bind(&stack.topic)
    .fetch_all(&stack.pool)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|name| name?.rsplit(':').next()?.parse().ok())
        .collect()
}

/// Waits until the holders satisfy `done` (all partitions have a row, each held); panics
/// with the holders after a minute.
async fn wait_for_holders(stack: &Stack, what: &str, done: impl Fn(&[u32]) -> bool) -> Vec<u32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = holders(stack).await;
        let held: Vec<u32> = now.iter().flatten().copied().collect();
        if now.len() == PARTITIONS as usize && held.len() == now.len() && done(&held) {
            return held;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within a minute; holders by partition: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pids(processes: &[Child]) -> BTreeSet<u32> {
    processes.iter().filter_map(Child::id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_projectors_share_the_partitions_and_survive_kills_with_an_exact_ledger() {
    let events = e2e::setting("COLLOQUY_SCALE_EVENTS", 12_000);
    let rounds = e2e::setting("COLLOQUY_SCALE_ROUNDS", 6);
    let mut stack = Stack::start(PARTITIONS).await;
    // The stack's own projector makes way for three.
    stack.kill_projector().await;
    let mut processes: Vec<Child> = (0..PROCESSES).map(|_| stack.another_projector()).collect();
    let all = pids(&processes);
    wait_for_holders(
        &stack,
        "the three processes share every partition",
        |held| held.iter().copied().collect::<BTreeSet<_>>() == all,
    )
    .await;

    let stop_load = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let load = Load::steady(&stack.ingest_url, events, progress.clone());
    let sender = tokio::spawn(ledger::send(load, stop_load.clone()));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watch = ledger::watch_offsets(stack.pool.clone(), stack.topic.clone(), stop_watch.clone());

    // Round k stops process k mod 3 once k/(rounds+1) of the events are acknowledged, by
    // SIGKILL, SIGTERM and SIGSTOP in turn (each process meets each): the other two take its
    // partitions over while it is down (once its leases expire, or at once when it gave them
    // up), then it is started again, or continued.
    for k in 0..rounds {
        let due = (k + 1) * events / (rounds + 1);
        while progress.load(Ordering::Relaxed) < due {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let victim = &mut processes[k % PROCESSES];
        let pid = victim.id().unwrap();
        let how = ["KILL", "TERM", "STOP"][(k / PROCESSES + k) % 3];
        match how {
            "KILL" => {
                victim.start_kill().unwrap();
                victim.wait().await.unwrap();
            }
            "TERM" => {
                e2e::signal(pid, "TERM");
                let status = victim.wait().await.unwrap();
                assert!(
                    status.success(),
                    "a projector exited with {status} on SIGTERM"
                );
            }
            _ => e2e::signal(pid, "STOP"),
        }
        wait_for_holders(
            &stack,
            &format!("the others take the partitions of the process sent SIG{how}"),
            |held| !held.contains(&pid),
        )
        .await;
        if how == "STOP" {
            e2e::signal(pid, "CONT");
        } else {
            *victim = stack.another_projector();
        }
    }
    stop_load.store(true, Ordering::Relaxed);
    let ledger = sender.await.unwrap();
    let drained = stack.wait_until_caught_up(Duration::from_secs(300)).await;
    stop_watch.store(true, Ordering::Relaxed);
    let watch = watch.await.unwrap();
    let report = ledger::check(&stack.pool, &ledger).await;
    let epochs: i64 = sqlx::query_scalar(
        "SELECT sum(epoch)::bigint FROM colloquy.projector_leases WHERE topic = $1",
    )
    .bind(&stack.topic)
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    eprintln!(
        "{report}\nstored offsets {drained:?}, sampled {} times; lease epochs sum to {epochs} \
         over {PARTITIONS} partitions",
        watch.samples
    );

    let mut high = stack.high_watermarks();
    high.retain(|(_, h)| *h > 0);
    high.sort();
    assert_eq!(drained, high, "every record read: {report}");
    report.assert_exact();
    assert!(
        watch.backwards.is_empty(),
        "stored offsets went backwards: {:?}",
        watch.backwards
    );
    // Partitions changed hands: each round moved the stopped process's partitions at least.
    assert!(
        epochs >= i64::from(PARTITIONS) + rounds as i64,
        "lease epochs sum to {epochs}"
    );
    // The restarted processes have their shares back.
    let all = pids(&processes);
    wait_for_holders(&stack, "the restarted processes get their share", |held| {
        held.iter().copied().collect::<BTreeSet<_>>() == all
    })
    .await;
}
