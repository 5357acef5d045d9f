//! Partition leases against Postgres: processes share the partitions fairly, a newcomer gets
//! its share, a process that stops renewing loses its partitions, and the fence keeps a
//! worker that lost a partition from storing anything for it.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::time::Duration;

use projector::leases::{self, Held, Instance, Lost, Member};
use projector::store::{self, Applied, Derive};
use projector::versions;
use sqlx::PgPool;

mod common;

const TOPIC: &str = "chat-events";

async fn meta() -> PgPool {
    let pool = common::fresh_pool().await;
    versions::ensure_meta(&pool).await.unwrap();
    pool
}

async fn join(pool: &PgPool, workers: usize) -> Instance {
    let instance = Instance::new(workers);
    versions::heartbeat(pool, &instance, false).await.unwrap();
    instance
}

/// What `member` holds after taking its fair share of `all`.
async fn share(pool: &PgPool, all: &[i32], member: Member, ttl: Duration) -> Held {
    leases::rebalance(pool, TOPIC, all, member, ttl)
        .await
        .unwrap()
}

/// The fence, as a batch of `partitions` would put it up.
async fn hold(
    tx: &mut sqlx::PgConnection,
    member: Member,
    held: &Held,
    partitions: &[i32],
) -> anyhow::Result<()> {
    leases::hold(tx, TOPIC, member, held, partitions, Duration::from_secs(30)).await
}

fn partitions(held: &Held) -> Vec<i32> {
    held.keys().copied().collect()
}

#[tokio::test]
async fn processes_share_the_partitions_and_a_newcomer_gets_its_share() {
    let pool = meta().await;
    let all: Vec<i32> = (0..6).collect();
    let ttl = Duration::from_secs(30);
    let a = join(&pool, 1).await;
    let held_a = share(&pool, &all, a.worker(0), ttl).await;
    assert_eq!(partitions(&held_a), all, "alone, it takes every partition");

    let b = join(&pool, 2).await;
    // Three workers now: B's take what is free (nothing yet), A gives up its excess, the
    // highest partitions first, and B's take them.
    let b0 = share(&pool, &all, b.worker(0), ttl).await;
    assert!(b0.is_empty(), "nothing is free until A lets go: {b0:?}");
    let held_a = share(&pool, &all, a.worker(0), ttl).await;
    assert_eq!(partitions(&held_a), vec![0, 1]);
    let b0 = share(&pool, &all, b.worker(0), ttl).await;
    let b1 = share(&pool, &all, b.worker(1), ttl).await;
    assert_eq!(partitions(&b0), vec![2, 3]);
    assert_eq!(partitions(&b1), vec![4, 5]);
    // Each was granted under a new epoch: A held them at 1, B's at 2.
    assert!(b0.values().chain(b1.values()).all(|e| *e == 2));

    // A stops cleanly: its partitions are free at once, and B's workers share them.
    leases::leave(&pool, a.id).await.unwrap();
    let b0 = share(&pool, &all, b.worker(0), ttl).await;
    let b1 = share(&pool, &all, b.worker(1), ttl).await;
    let mut both = [partitions(&b0), partitions(&b1)].concat();
    both.sort_unstable();
    assert_eq!(both, all, "every partition held, once");
}

#[tokio::test]
async fn the_partitions_of_a_process_that_stops_renewing_are_taken_when_its_leases_expire() {
    let pool = meta().await;
    let all: Vec<i32> = (0..4).collect();
    let ttl = Duration::from_millis(600);
    let dead = join(&pool, 1).await;
    let held = share(&pool, &all, dead.worker(0), ttl).await;
    assert_eq!(partitions(&held), all);
    // The survivor joined while the other was alive: its share is half, and nothing is free.
    let survivor = join(&pool, 1).await;
    let taken = share(&pool, &all, survivor.worker(0), ttl).await;
    assert!(taken.is_empty());
    // The other process dies: no heartbeat, no renewal. Once its leases and its membership
    // have expired, the survivor takes everything.
    let mut taken = Held::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        versions::heartbeat(&pool, &survivor, false).await.unwrap();
        taken = share(&pool, &all, survivor.worker(0), ttl).await;
        if taken.len() == all.len() {
            break;
        }
    }
    assert_eq!(partitions(&taken), all);
    // And the dead process, were it only paused, now finds it holds nothing.
    let mut tx = pool.begin().await.unwrap();
    let error = hold(&mut tx, dead.worker(0), &held, &[0, 3])
        .await
        .unwrap_err();
    assert_eq!(error.downcast_ref::<Lost>().unwrap().partitions, vec![0, 3]);
}

fn batch(partition: i32, offset: i64) -> Vec<Applied> {
    let event = schemas::testing::widget_loaded("site", "c-1", schemas::testing::at(offset));
    vec![Applied {
        partition,
        offset,
        event,
    }]
}

#[tokio::test]
async fn a_partition_changes_hands_only_between_batches_and_the_old_holder_stores_nothing_after() {
    let pool = meta().await;
    let all = vec![0];
    let ttl = Duration::from_millis(300);
    let old = join(&pool, 1).await;
    let held = share(&pool, &all, old.worker(0), ttl).await;

    // The old holder's batch is in flight, fenced, when its lease expires: the newcomer does
    // not get the partition while the batch's transaction is open ...
    let mut tx = pool.begin().await.unwrap();
    hold(&mut tx, old.worker(0), &held, &[0]).await.unwrap();
    let newcomer = join(&pool, 1).await;
    tokio::time::sleep(ttl * 2).await;
    versions::heartbeat(&pool, &newcomer, false).await.unwrap();
    let during = share(&pool, &all, newcomer.worker(0), ttl).await;
    assert!(during.is_empty(), "taken mid-batch: {during:?}");
    // ... the batch commits with its offsets ...
    let isolated = store::apply_isolating(tx, TOPIC, &batch(0, 0), &[(0, 1)], Derive::Now)
        .await
        .unwrap();
    isolated.commit().await.unwrap();
    // ... and then it does, and reads the offsets that batch stored.
    let taken = share(&pool, &all, newcomer.worker(0), ttl).await;
    assert_eq!(partitions(&taken), vec![0]);
    assert!(taken[&0] > held[&0], "a takeover is a new epoch");
    let stored = store::offsets::load(&pool, TOPIC).await.unwrap();
    assert_eq!(stored.get(&0), Some(&1));

    // The old holder's next batch is refused before it writes anything.
    let mut tx = pool.begin().await.unwrap();
    let error = hold(&mut tx, old.worker(0), &held, &[0]).await.unwrap_err();
    assert!(error.downcast_ref::<Lost>().is_some(), "{error:#}");
    drop(tx);
    // The new holder's goes through.
    let mut tx = pool.begin().await.unwrap();
    hold(&mut tx, newcomer.worker(0), &taken, &[0])
        .await
        .unwrap();
    let isolated = store::apply_isolating(tx, TOPIC, &batch(0, 1), &[(0, 2)], Derive::Now)
        .await
        .unwrap();
    isolated.commit().await.unwrap();
    let stored = store::offsets::load(&pool, TOPIC).await.unwrap();
    assert_eq!(stored.get(&0), Some(&2));
}

#[tokio::test]
async fn renewing_keeps_a_lease_past_its_ttl() {
    let pool = meta().await;
    let all = vec![0, 1];
    let ttl = Duration::from_millis(400);
    let a = join(&pool, 1).await;
    let held = share(&pool, &all, a.worker(0), ttl).await;
    // B wants its share all along, but A renews (and does not rebalance, so keeps both).
    let b = join(&pool, 1).await;
    for _ in 0..8 {
        tokio::time::sleep(ttl / 4).await;
        versions::heartbeat(&pool, &a, false).await.unwrap();
        versions::heartbeat(&pool, &b, false).await.unwrap();
        leases::renew(&pool, a.id, &[0], ttl).await.unwrap();
        let got = share(&pool, &all, b.worker(0), ttl).await;
        assert!(got.is_empty(), "took a lease still renewed: {got:?}");
    }
    let mut tx = pool.begin().await.unwrap();
    hold(&mut tx, a.worker(0), &held, &[0, 1]).await.unwrap();
}

#[tokio::test]
async fn a_batch_left_idle_for_a_lease_is_ended_and_its_partitions_move_on() {
    let pool = meta().await;
    let all = vec![0];
    let ttl = Duration::from_millis(300);
    let frozen = join(&pool, 1).await;
    let held = share(&pool, &all, frozen.worker(0), ttl).await;
    // A process frozen mid-batch: the fence is up, then nothing more is sent.
    let mut tx = pool.begin().await.unwrap();
    leases::hold(&mut tx, TOPIC, frozen.worker(0), &held, &[0], ttl)
        .await
        .unwrap();
    let other = join(&pool, 1).await;
    let mut taken = Held::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        versions::heartbeat(&pool, &other, false).await.unwrap();
        taken = share(&pool, &all, other.worker(0), ttl).await;
        if !taken.is_empty() {
            break;
        }
    }
    assert_eq!(
        partitions(&taken),
        vec![0],
        "the idle batch still holds the partition"
    );
    // The frozen process, woken, finds its transaction gone.
    assert!(sqlx::query("SELECT 1").execute(&mut *tx).await.is_err());
}

/// Processes silent for over a day are forgotten by the next heartbeat; recent ones and the
/// beating one stay.
#[tokio::test]
async fn a_heartbeat_forgets_processes_gone_for_a_day() {
    let pool = meta().await;
    let gone = join(&pool, 1).await;
    let recent = join(&pool, 1).await;
    sqlx::query(
        "UPDATE colloquy.projector_instances SET heartbeat_at = now() - interval '25 hours'
         WHERE id = $1",
    )
    .bind(gone.id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE colloquy.projector_instances SET heartbeat_at = now() - interval '2 hours'
         WHERE id = $1",
    )
    .bind(recent.id)
    .execute(&pool)
    .await
    .unwrap();
    let beating = join(&pool, 2).await;
    let mut left: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM colloquy.projector_instances")
            .fetch_all(&pool)
            .await
            .unwrap();
    left.sort();
    let mut want = vec![recent.id, beating.id];
    want.sort();
    assert_eq!(left, want);
}

/// A stalled worker is left out of its process's renewal: its leases lapse and another worker
/// takes its partitions, while the process's other worker keeps its own; a worker's
/// partitions given up at once (`release_worker`) are taken without waiting.
#[tokio::test]
async fn a_stalled_workers_partitions_lapse_while_its_neighbour_keeps_its_own() {
    let pool = meta().await;
    let all = vec![0, 1];
    let ttl = Duration::from_millis(400);
    let a = join(&pool, 2).await;
    let first = share(&pool, &all, a.worker(0), ttl).await;
    let second = share(&pool, &all, a.worker(1), ttl).await;
    assert_eq!((first.len(), second.len()), (1, 1));
    let b = join(&pool, 2).await;
    // Worker 1 of A stalls: only worker 0 is renewed.
    for _ in 0..8 {
        tokio::time::sleep(ttl / 4).await;
        versions::heartbeat(&pool, &a, false).await.unwrap();
        versions::heartbeat(&pool, &b, false).await.unwrap();
        leases::renew(&pool, a.id, &[0], ttl).await.unwrap();
    }
    let taken = share(&pool, &all, b.worker(0), ttl).await;
    assert_eq!(
        taken.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    let mut tx = pool.begin().await.unwrap();
    hold(
        &mut tx,
        a.worker(0),
        &first,
        &first.keys().copied().collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    drop(tx);
    // Given up at once: B's other worker takes A's worker 0's partition without a wait.
    leases::release_worker(&pool, a.worker(0)).await.unwrap();
    let moved = share(&pool, &all, b.worker(1), ttl).await;
    assert_eq!(
        moved.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
}
