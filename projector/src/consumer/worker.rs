//! One worker: holds its share of the partitions, and applies them a batch at a time, each
//! batch with its next offsets in one transaction behind the lease fence.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context as _;
use rdkafka::consumer::Consumer;
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use runtime::kafka::KafkaSink;
use sqlx::PgPool;
use tokio::sync::{RwLock, watch};

use super::dead_letters::dead_letter;
use super::decoding::{Prepared, prepare};
use super::reading::{assignment, consumer, next_batch, partitions};
use super::retired::erases;
use super::{CONTROL_INTERVAL, Health, Live, Shared, backoff, retry};
use crate::config::ProjectorConfig;
use crate::leases::{self, Held, Member};
use crate::store;

/// One worker: holds its share of the partitions and applies them batch by batch, each
/// batch with its offsets in one transaction behind the lease fence, until `stopped`.
pub(super) async fn work(
    config: ProjectorConfig,
    member: Member,
    live: Arc<RwLock<Live>>,
    meta: PgPool,
    shared: Shared,
    health: Arc<Health>,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let config = &config;
    let beats = shared.beats.clone();
    let consumer = consumer(config, "colloquy-projector")?;
    // The partitions held and the live version the consumer was last assigned for.
    let mut assigned: Option<(u64, Held)> = None;
    let mut held = Held::new();
    let mut rebalance_at = Instant::now();
    // Idle: after `idle_pause` without records the worker lets its partitions go from the
    // consumer (nothing is fetched, so the broker rests too), keeping their leases, until
    // records are announced on them ([`runtime::wakeup`]) or the lag monitor sees some. An
    // announcement heard since the last wake wakes at once, so one that comes just as the
    // worker goes idle is not missed.
    let mut produced = shared.produced.clone();
    let mut quiet_since = Instant::now();
    let mut paused_at: Option<Instant> = None;
    let mut wake_up = false;
    let mut idle = IdleMark::new(&health.metrics.workers_idle);
    while !*stopped.borrow() {
        beats.beat(member.worker);
        if let Some(path) = &config.failpoint_hang
            && std::fs::remove_file(path).is_ok()
        {
            tracing::warn!(worker = member.worker, "failpoint: this worker hangs");
            std::future::pending::<()>().await;
        }
        if Instant::now() >= rebalance_at {
            held = tokio::select! {
                _ = stopped.changed() => break,
                h = retry("share out the partitions", || async {
                    // Trying again (Postgres down) is coming round, not being stuck.
                    beats.beat(member.worker);
                    let partitions = partitions(config, &consumer)?;
                    let ttl = config.lease_ttl;
                    Ok(leases::rebalance(&meta, &config.topic, &partitions, member, ttl).await?)
                }) => h,
            };
            rebalance_at = Instant::now() + config.lease_ttl / 4;
        }
        let (current, pool) = {
            let live = live.read().await;
            (live.generation, live.pool.clone())
        };
        if wake_up || assigned.as_ref() != Some(&(current, held.clone())) {
            let list = tokio::select! {
                _ = stopped.changed() => break,
                a = retry("load the assignment", || {
                    beats.beat(member.worker);
                    assignment(config, &pool, held.keys().copied())
                }) => a,
            };
            // Assigning seeks every partition to this version's stored offsets, read after the
            // leases were taken; whatever was fetched before is dropped.
            consumer.assign(&list).context("cannot assign partitions")?;
            if paused_at.take().is_none() {
                quiet_since = Instant::now();
            }
            wake_up = false;
            idle.set(false);
            let before = assigned.map(|(_, h)| h).unwrap_or_default();
            if before.keys().ne(held.keys()) {
                tracing::info!(
                    topic = %config.topic,
                    worker = member.worker,
                    partitions = ?held.keys().collect::<Vec<_>>(),
                    "partitions held"
                );
            }
            health.metrics.held(&before, &held);
            health.metrics.stored(&positions(&list));
            health.ready.store(true, Ordering::Relaxed);
            assigned = Some((current, held.clone()));
        }
        if paused_at.is_some() {
            let announced = tokio::select! {
                _ = stopped.changed() => break,
                heard = produced.wait(CONTROL_INTERVAL) => heard,
            };
            if announced || health.metrics.waiting(held.keys().copied()) {
                // Assigned again from the stored offsets at the top of the loop.
                (wake_up, quiet_since) = (true, Instant::now());
                tracing::debug!(worker = member.worker, announced, "fetching again");
            }
            continue;
        }
        let batch = tokio::select! {
            _ = stopped.changed() => break,
            batch = next_batch(&consumer, config, CONTROL_INTERVAL) => batch,
        };
        if batch.is_empty() {
            if let Some(pause) = config.idle_pause
                && quiet_since.elapsed() >= pause
            {
                // Unassigned rather than paused: librdkafka notices a resumed partition only
                // at its next look, up to a second later, while an assignment starts at once.
                consumer.unassign().context("cannot unassign partitions")?;
                paused_at = Some(Instant::now());
                idle.set(true);
                tracing::debug!(
                    worker = member.worker,
                    "idle: fetching stops until records are announced"
                );
            }
            continue;
        }
        quiet_since = Instant::now();
        let applying = live.read().await;
        if applying.generation != current {
            // Fetched for the version this worker no longer applies to.
            continue;
        }
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let committed = async {
                let prepared = prepare(&batch, &meta, &shared.proofs)
                    .await
                    .context("cannot read the keys of sealed records")?;
                let fence = (member, &held);
                let outcome = commit_batch(
                    config,
                    &applying.pool,
                    fence,
                    &shared.dead_letters,
                    &batch,
                    &prepared,
                )
                .await?;
                anyhow::Ok((prepared, outcome))
            };
            match committed.await {
                Ok((prepared, outcome)) => {
                    let m = &health.metrics;
                    m.applied.inc_by(outcome.applied as u64);
                    m.duplicates.inc_by(outcome.duplicates as u64);
                    m.dead_lettered
                        .inc_by((prepared.poison.len() + outcome.refused) as u64);
                    m.batch_seconds.observe(started.elapsed().as_secs_f64());
                    m.stored(&prepared.next_offsets);
                    health.ready.store(true, Ordering::Relaxed);
                    if prepared.events.iter().any(|a| erases(&a.event)) {
                        shared.erased.store(true, Ordering::Release);
                    }
                    tracing::debug!(
                        worker = member.worker,
                        records = batch.len(),
                        applied = outcome.applied,
                        duplicates = outcome.duplicates,
                        dead_lettered = prepared.poison.len() + outcome.refused,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "batch committed"
                    );
                    break;
                }
                Err(error) if error.downcast_ref::<leases::Lost>().is_some() => {
                    // Another worker holds a partition of this batch now and goes on from
                    // the offsets stored before it: drop the batch and share out again.
                    tracing::warn!(
                        error = format!("{error:#}"),
                        worker = member.worker,
                        "lease lost; the batch is dropped"
                    );
                    rebalance_at = Instant::now();
                    break;
                }
                Err(error) => {
                    // Nothing of this batch is stored; keep it and try again. The stored
                    // offsets still point at its start, so a crash here loses nothing either.
                    health.ready.store(false, Ordering::Relaxed);
                    beats.beat(member.worker);
                    attempt += 1;
                    tracing::error!(
                        error = format!("{error:#}"),
                        worker = member.worker,
                        attempt,
                        "batch failed, retrying"
                    );
                    tokio::select! {
                        _ = stopped.changed() => return Ok(()),
                        () = tokio::time::sleep(backoff(attempt)) => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// This worker's part of `projector_workers_idle`, given back however the worker ends.
struct IdleMark<'a> {
    gauge: &'a prometheus_client::metrics::gauge::Gauge,
    idle: bool,
}

impl<'a> IdleMark<'a> {
    fn new(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        Self { gauge, idle: false }
    }

    fn set(&mut self, idle: bool) {
        if idle != self.idle {
            if idle {
                self.gauge.inc();
            } else {
                self.gauge.dec();
            }
            self.idle = idle;
        }
    }
}

impl Drop for IdleMark<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Where an assignment starts each partition.
fn positions(assigned: &TopicPartitionList) -> Vec<(i32, i64)> {
    assigned
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), o),
            _ => (e.partition(), 0),
        })
        .collect()
}

/// What a committed batch did, with the events the read models refused.
struct Committed {
    applied: usize,
    duplicates: usize,
    /// Events that decoded but that Postgres refused, dead-lettered.
    refused: usize,
}

/// Dead-letters the poison records (awaiting the broker's acknowledgement), then, behind the
/// lease fence ([`leases::hold`]: the batch's partitions stay the worker's until the
/// transaction ends), applies the rest with the offsets ([`store::apply_isolating`]),
/// dead-lettering the events Postgres refuses for their data before the transaction storing
/// the offsets past them commits. A crash (or a lost lease) between dead-lettering and
/// storing may dead-letter a record twice, never lose it.
async fn commit_batch(
    config: &ProjectorConfig,
    pool: &PgPool,
    (member, held): (Member, &Held),
    dead_letters: &KafkaSink,
    batch: &[OwnedMessage],
    prepared: &Prepared,
) -> anyhow::Result<Committed> {
    let poison: Vec<(&OwnedMessage, &str)> = prepared
        .poison
        .iter()
        .map(|p| (&p.message, p.reason.as_str()))
        .collect();
    dead_letter(config, dead_letters, &poison).await?;
    let mut tx = pool.begin().await.context("cannot begin the batch")?;
    let partitions: Vec<i32> = prepared.next_offsets.iter().map(|(p, _)| *p).collect();
    leases::hold(
        &mut tx,
        &config.topic,
        member,
        held,
        &partitions,
        config.lease_ttl,
    )
    .await?;
    let (events, offsets) = (&prepared.events, &prepared.next_offsets);
    let mut isolated =
        store::apply_isolating(tx, &config.topic, events, offsets, store::Derive::Now)
            .await
            .context("cannot apply the batch")?;
    let refused: Vec<(&OwnedMessage, &str)> = isolated
        .refused
        .iter()
        .filter_map(|r| {
            let event = &events[r.index];
            let message = batch
                .iter()
                .find(|m| m.partition() == event.partition && m.offset() == event.offset)?;
            Some((message, r.reason.as_str()))
        })
        .collect();
    anyhow::ensure!(
        refused.len() == isolated.refused.len(),
        "a refused event has no record in its batch"
    );
    dead_letter(config, dead_letters, &refused).await?;
    let committed = Committed {
        applied: isolated.outcome.applied,
        duplicates: isolated.outcome.duplicates,
        refused: refused.len(),
    };
    // Dashboards hear of the batch as it becomes readable (`GET /v1/stream`).
    isolated
        .announce()
        .await
        .context("cannot announce the batch")?;
    // CRMs hear of it through their webhooks, decided with the batch (docs/webhooks.md).
    isolated
        .enqueue_webhooks()
        .await
        .context("cannot enqueue the batch's webhook deliveries")?;
    isolated.commit().await.context("cannot apply the batch")?;
    Ok(committed)
}
