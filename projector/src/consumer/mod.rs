//! The consume loop: read a batch, decode (opening sealed records with their keys), dead-letter poison records, apply everything and
//! the next offsets in one transaction, repeat.
//!
//! Kafka's "storing offsets outside Kafka" pattern: the projector never commits offsets to
//! the broker. Its position lives in `projector_offsets`, written atomically with the rows,
//! and each worker `assign()`s the partitions it holds a lease on ([`leases`]) and seeks to
//! the stored position. Consumer groups are not used at all (Tansu 0.6's rebalancing is
//! unreliable, and which process owns a partition is settled in Postgres, beside the offsets).
//!
//! - this module: the controller ([`run`]): starts the workers, follows a rebuild, stops.
//! - [`worker`]: one worker's loop, a batch and its offsets in one transaction.
//! - [`reading`]: the Kafka side: consumer, partitions, assignment, batches.
//! - [`decoding`]: a batch decoded into events and poison.
//! - [`dead_letters`]: what is refused goes to the dead-letter topic.
//! - [`retired`]: dropping retired read-model versions.

mod dead_letters;
mod decoding;
mod reading;
mod retired;
mod worker;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use runtime::kafka::{KafkaSink, ProducerConfig};
use runtime::wakeup::{self, Signals, Wake};
use sqlx::PgPool;
use tokio::sync::{RwLock, watch};
use tokio::task::{AbortHandle, JoinSet};
use uuid::Uuid;

use crate::config::ProjectorConfig;
use crate::leases::{self, Instance};
use crate::metrics::ProjectorMetrics;
use crate::proofs::Proofs;
use crate::versions;

pub use decoding::{Poison, Prepared, decode, prepare};
pub use reading::{assignment, consumer, load_proofs, next_batch, partitions};
use retired::RetiredVersions;

/// When each worker last came round its loop: a worker that does not for
/// `PROJECTOR_WORKER_STALL_S` is stalled, though its process lives.
pub(super) struct Beats {
    start: Instant,
    /// Milliseconds since `start`, per worker.
    last: Vec<AtomicU64>,
}

impl Beats {
    fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// `worker` came round its loop now.
    pub(super) fn beat(&self, worker: i32) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(last) = usize::try_from(worker).ok().and_then(|w| self.last.get(w)) {
            last.store(now, Ordering::Relaxed);
        }
    }

    /// Every worker came round now: after a pause, which holds them all still on purpose.
    fn beat_all(&self) {
        for worker in 0..self.last.len() {
            self.beat(i32::try_from(worker).unwrap_or(i32::MAX));
        }
    }

    /// The workers that came round within `stall`, and those that did not.
    fn split(&self, stall: Duration) -> (Vec<i32>, Vec<i32>) {
        let now = self.start.elapsed();
        let (mut live, mut stalled) = (Vec::new(), Vec::new());
        for (worker, last) in self.last.iter().enumerate() {
            let since = now.saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
            let worker = i32::try_from(worker).unwrap_or(i32::MAX);
            if since > stall {
                stalled.push(worker);
            } else {
                live.push(worker);
            }
        }
        (live, stalled)
    }
}

/// What the health endpoints report.
#[derive(Default)]
pub struct Health {
    /// Partitions are assigned and the last transaction (if any) succeeded.
    pub ready: AtomicBool,
    pub metrics: Arc<ProjectorMetrics>,
}

/// How often the controller looks for stalled workers, and the longest a worker waits on the
/// broker or, paused, for an announcement before coming round its loop.
pub(super) const CONTROL_INTERVAL: Duration = Duration::from_millis(200);
/// How often the live projector reports it is alive and looks for a pause request or a switch
/// it was not told of (at most a quarter of the lease): rebuilds count processes silent for
/// five seconds as gone.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// The read models the workers apply to, behind the gate that pauses them. A worker holds it
/// for reading while it applies a batch; the controller holds it for writing to pause every
/// worker between batches (tokio's lock is fair, so a waiting writer holds back new batches)
/// and to move them to another version.
pub(super) struct Live {
    schema: String,
    pub(super) pool: PgPool,
    /// Bumped when the live version changes: a worker seeing a new one re-assigns its
    /// partitions from that version's stored offsets.
    pub(super) generation: u64,
}

/// Consumes into the live read models until `shutdown` resolves. A batch that has started is
/// finished first. `meta` is a pool on the default schema, for the version metadata.
///
/// `PROJECTOR_WORKERS` workers each hold leases on a share of the topic's partitions (shared
/// with the workers of every other projector process, [`leases`]), with a consumer and a
/// Postgres transaction of their own, so one applies while another decodes or waits on the
/// broker: the partitions are independent (a conversation's events stay in one), and the
/// read models derived across them are brought up to date under a lock
/// ([`store::apply_isolating`]). Between batches the controller follows a rebuild: when asked,
/// it pauses every worker (so both versions stand still while they are compared), and when
/// another version has become live it moves them there, each resuming from that version's
/// stored offsets. On a clean stop the process gives its partitions up at once.
pub async fn run(
    config: &ProjectorConfig,
    meta: PgPool,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let schema = tokio::select! {
        () = &mut shutdown => return Ok(()),
        s = retry("read the live version", || async {
            Ok(runtime::read_models::live_schema(&meta).await?)
        }) => s,
    };
    let pool = runtime::read_models::pool_for_schema(&config.postgres, &schema)?;
    tracing::info!(%schema, workers = config.workers, "projecting into the live read models");
    let live = Arc::new(RwLock::new(Live {
        schema,
        pool,
        generation: 0,
    }));
    let dead_letters = Arc::new(
        KafkaSink::new(
            &config.kafka,
            &ProducerConfig::new(&config.dead_letter_topic),
        )
        .context("cannot create the dead-letter producer")?,
    );
    let proofs = tokio::select! {
        () = &mut shutdown => return Ok(()),
        p = retry("note where admin proofs start", || load_proofs(config, &meta)) => Arc::new(p),
    };
    let signals = Signals::listen(&meta, &[wakeup::PRODUCED, wakeup::CONTROL]);
    let shared = Shared {
        dead_letters,
        proofs,
        erased: Arc::new(AtomicBool::new(false)),
        beats: Beats::new(config.workers),
        produced: signals.wake(wakeup::PRODUCED),
    };
    // Join before the workers share out the partitions, so that they count this process.
    let instance = Instance::new(config.workers);
    tokio::select! {
        () = &mut shutdown => return Ok(()),
        _ = retry("join the projector processes", || async {
            Ok(versions::heartbeat(&meta, &instance, false).await?)
        }) => {}
    }
    tracing::info!(instance = %instance.id, name = %instance.name, "joined the projector processes");
    let beats = shared.beats.clone();
    beats.beat_all();
    let renewing = tokio::spawn(renew_leases(
        meta.clone(),
        instance.id,
        config.lease_ttl,
        beats.clone(),
        config.worker_stall,
    ));
    let (stop, stopped) = watch::channel(false);
    let mut workers = JoinSet::new();
    let start = |workers: &mut JoinSet<anyhow::Result<()>>, worker: usize| -> AbortHandle {
        workers.spawn(worker::work(
            config.clone(),
            instance.worker(worker),
            live.clone(),
            meta.clone(),
            shared.clone(),
            health.clone(),
            stopped.clone(),
        ))
    };
    let mut handles: Vec<AbortHandle> = (0..config.workers)
        .map(|worker| start(&mut workers, worker))
        .collect();

    let mut failed = None;
    let mut retired = RetiredVersions::new(config.keep_retired);
    // A rebuild's requests and a switch are announced ([`wakeup::CONTROL`]); between them the
    // heartbeat keeps this process counted among the live ones.
    let mut control = signals.wake(wakeup::CONTROL);
    let heartbeat_every = HEARTBEAT.min(config.lease_ttl / 4);
    let mut beat_at = Instant::now();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            heard = control.wait(CONTROL_INTERVAL) => if heard { beat_at = Instant::now() },
            done = workers.join_next() => match done {
                Some(Ok(Ok(()))) => continue,
                Some(Ok(Err(error))) => { failed = Some(error); break; }
                // A stalled worker this loop ended, and started again.
                Some(Err(ended)) if ended.is_cancelled() => continue,
                Some(Err(panicked)) => { failed = Some(anyhow::anyhow!("a worker failed: {panicked}")); break; }
                None => break,
            },
        }
        let (_, stalled) = beats.split(config.worker_stall);
        for worker in stalled {
            let member = instance.worker(usize::try_from(worker).unwrap_or(0));
            tracing::error!(
                worker,
                stall_s = config.worker_stall.as_secs(),
                "a worker has not come round its loop: giving up its partitions and starting it again"
            );
            let index = usize::try_from(worker).unwrap_or(0);
            handles[index].abort();
            if let Err(error) = leases::release_worker(&meta, member).await {
                tracing::warn!(%error, worker, "cannot free a stalled worker's partitions; they expire");
            }
            health.metrics.workers_restarted.inc();
            beats.beat(worker);
            handles[index] = start(&mut workers, index);
        }
        retired.tick(&meta, &shared.erased);
        if Instant::now() < beat_at {
            continue;
        }
        beat_at = Instant::now() + heartbeat_every;
        let schema = live.read().await.schema.clone();
        if let Some(moved) =
            follow_rebuild(&meta, &instance, &schema, &live, &beats, &mut shutdown).await
        {
            let pool = runtime::read_models::pool_for_schema(&config.postgres, &moved)?;
            let mut live = live.write().await;
            live.generation += 1;
            live.pool = pool;
            live.schema = moved;
            tracing::info!(schema = %live.schema, "now projecting into the new live read models");
        }
    }
    // Workers finish the batch in hand and stop.
    let _ = stop.send(true);
    while let Some(done) = workers.join_next().await {
        if let Ok(Err(error)) = done {
            failed.get_or_insert(error);
        }
    }
    // No batch is in flight: hand the partitions over now rather than when the leases expire.
    renewing.abort();
    if let Err(error) = leases::leave(&meta, instance.id).await {
        tracing::warn!(%error, "cannot give up the partition leases; they expire on their own");
    }
    tracing::info!("projector stopped");
    failed.map_or(Ok(()), Err)
}

/// Keeps the leases of the process's workers from expiring while they come round their loops;
/// a stalled worker's are left to lapse (and given up by the controller).
async fn renew_leases(
    meta: PgPool,
    instance: Uuid,
    ttl: Duration,
    beats: Arc<Beats>,
    stall: Duration,
) {
    loop {
        tokio::time::sleep(ttl / 4).await;
        let (live, _) = beats.split(stall);
        if let Err(error) = leases::renew(&meta, instance, &live, ttl).await {
            tracing::warn!(%error, "cannot renew the partition leases");
        }
    }
}

/// Reports to a rebuild (heartbeat), pauses every worker while one asks, and returns the live
/// schema if it is no longer `schema`. Metadata errors are logged and ignored: without the
/// metadata there is no rebuild to follow, and projecting must not stop for it.
async fn follow_rebuild(
    meta: &PgPool,
    instance: &Instance,
    schema: &str,
    live: &RwLock<Live>,
    beats: &Beats,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<String> {
    // Held while paused: every worker has finished its batch and none starts another.
    let mut paused = None;
    loop {
        if paused.is_some() {
            // A pause holds the workers still on purpose: they are not stalled for it.
            beats.beat_all();
        }
        match versions::heartbeat(meta, instance, paused.is_some()).await {
            Ok(true) => {
                if paused.is_none() {
                    tracing::info!("a rebuild asked to pause; pausing between batches");
                    tokio::select! {
                        () = shutdown.as_mut() => return None,
                        guard = live.write() => paused = Some(guard),
                    }
                    // Report it at once rather than after the next sleep.
                    continue;
                }
            }
            Ok(false) => break,
            Err(error) => {
                tracing::debug!(%error, "no rebuild handshake");
                break;
            }
        }
        tokio::select! {
            () = shutdown.as_mut() => return None,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    if paused.take().is_some() {
        beats.beat_all();
        let _ = versions::heartbeat(meta, instance, false).await;
        tracing::info!("resumed");
    }
    match runtime::read_models::live_schema(meta).await {
        Ok(live) if live != schema => Some(live),
        _ => None,
    }
}

/// What the workers of a process share besides the live version.
#[derive(Clone)]
pub(super) struct Shared {
    /// Where refused records go.
    pub(super) dead_letters: Arc<KafkaSink>,
    /// Which admin records are refused.
    pub(super) proofs: Arc<Proofs>,
    /// Set when a batch applied an erasure or a retention cut: retired versions, which it
    /// does not reach, are dropped ([`versions::drop_retired`]).
    pub(super) erased: Arc<AtomicBool>,
    /// When each worker last came round its loop.
    pub(super) beats: Arc<Beats>,
    /// Records were announced on a partition that had been quiet ([`runtime::wakeup`]).
    pub(super) produced: Wake,
}

pub(super) async fn retry<T, F: Future<Output = anyhow::Result<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(error) => {
                attempt += 1;
                tracing::warn!(
                    error = format!("{error:#}"),
                    attempt,
                    "cannot {what} yet, retrying"
                );
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(3_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), Duration::from_millis(3_000));
    }
}
