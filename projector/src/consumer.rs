//! The consume loop: read a batch, decode (opening sealed records with their keys), dead-letter poison records, apply everything and
//! the next offsets in one transaction, repeat.
//!
//! Kafka's "storing offsets outside Kafka" pattern: the projector never commits offsets to
//! the broker. Its position lives in `projector_offsets`, written atomically with the rows,
//! and each worker `assign()`s the partitions it holds a lease on ([`leases`]) and seeks to
//! the stored position. Consumer groups are not used at all (Tansu 0.6's rebalancing is
//! unreliable, and which process owns a partition is settled in Postgres, beside the offsets).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use runtime::kafka::{EventSink, KafkaSink, ProducerConfig, Record};
use schemas::topics::PROOF_HEADER;
use schemas::topics::dead_letter_headers as dlq;
use schemas::{Event, FieldError};
use sqlx::PgPool;
use tokio::sync::{RwLock, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::config::ProjectorConfig;
use crate::leases::{self, Held, Instance, Member};
use crate::metrics::ProjectorMetrics;
use crate::opening;
use crate::proofs::Proofs;
use crate::store::{self, Applied};
use crate::versions;

/// What the health endpoints report.
#[derive(Default)]
pub struct Health {
    /// Partitions are assigned and the last transaction (if any) succeeded.
    pub ready: AtomicBool,
    pub metrics: Arc<ProjectorMetrics>,
}

/// A consumer that never commits and never joins a group: partitions are assigned by hand.
pub fn consumer(config: &ProjectorConfig, group: &str) -> anyhow::Result<StreamConsumer> {
    config
        .kafka
        .client_config()
        // Required by librdkafka, never used for offsets or membership.
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", config.fetch_wait_max_ms.to_string())
        .create()
        .context("cannot create the Kafka consumer")
}

/// How often the live projector reports to a rebuild and looks for a pause request or a switch.
const CONTROL_INTERVAL: Duration = Duration::from_millis(200);

/// The read models the workers apply to, behind the gate that pauses them. A worker holds it
/// for reading while it applies a batch; the controller holds it for writing to pause every
/// worker between batches (tokio's lock is fair, so a waiting writer holds back new batches)
/// and to move them to another version.
struct Live {
    schema: String,
    pool: PgPool,
    /// Bumped when the live version changes: a worker seeing a new one re-assigns its
    /// partitions from that version's stored offsets.
    generation: u64,
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
    let shared = Shared {
        dead_letters,
        proofs,
        erased: Arc::new(AtomicBool::new(false)),
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
    let renewing = tokio::spawn(renew_leases(meta.clone(), instance.id, config.lease_ttl));
    let (stop, stopped) = watch::channel(false);
    let mut workers = JoinSet::new();
    for worker in 0..config.workers {
        workers.spawn(work(
            config.clone(),
            instance.worker(worker),
            live.clone(),
            meta.clone(),
            shared.clone(),
            health.clone(),
            stopped.clone(),
        ));
    }

    let mut failed = None;
    let mut retired = RetiredVersions::new(config.keep_retired);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            done = workers.join_next() => match done {
                Some(Ok(Ok(()))) => continue,
                Some(Ok(Err(error))) => { failed = Some(error); break; }
                Some(Err(panicked)) => { failed = Some(anyhow::anyhow!("a worker failed: {panicked}")); break; }
                None => break,
            },
            () = tokio::time::sleep(CONTROL_INTERVAL) => {}
        }
        let schema = live.read().await.schema.clone();
        if let Some(moved) = follow_rebuild(&meta, &instance, &schema, &live, &mut shutdown).await {
            let pool = runtime::read_models::pool_for_schema(&config.postgres, &moved)?;
            let mut live = live.write().await;
            live.generation += 1;
            live.pool = pool;
            live.schema = moved;
            tracing::info!(schema = %live.schema, "now projecting into the new live read models");
        }
        retired.tick(&meta, &shared.erased);
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

/// Keeps the process's leases from expiring while it runs.
async fn renew_leases(meta: PgPool, instance: Uuid, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 4).await;
        if let Err(error) = leases::renew(&meta, instance, ttl).await {
            tracing::warn!(%error, "cannot renew the partition leases");
        }
    }
}

/// One worker: holds its share of the partitions and applies them batch by batch, each
/// batch with its offsets in one transaction behind the lease fence, until `stopped`.
async fn work(
    config: ProjectorConfig,
    member: Member,
    live: Arc<RwLock<Live>>,
    meta: PgPool,
    shared: Shared,
    health: Arc<Health>,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let config = &config;
    let consumer = consumer(config, "colloquy-projector")?;
    // The partitions held and the live version the consumer was last assigned for.
    let mut assigned: Option<(u64, Held)> = None;
    let mut held = Held::new();
    let mut rebalance_at = Instant::now();
    while !*stopped.borrow() {
        if Instant::now() >= rebalance_at {
            held = tokio::select! {
                _ = stopped.changed() => break,
                h = retry("share out the partitions", || async {
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
        if assigned.as_ref() != Some(&(current, held.clone())) {
            let list = tokio::select! {
                _ = stopped.changed() => break,
                a = retry("load the assignment", || assignment(config, &pool, held.keys().copied())) => a,
            };
            // Assigning seeks every partition to this version's stored offsets, read after the
            // leases were taken; whatever was fetched before is dropped.
            consumer.assign(&list).context("cannot assign partitions")?;
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
        let batch = tokio::select! {
            _ = stopped.changed() => break,
            batch = next_batch(&consumer, config, CONTROL_INTERVAL) => batch,
        };
        if batch.is_empty() {
            continue;
        }
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

/// Reports to a rebuild (heartbeat), pauses every worker while one asks, and returns the live
/// schema if it is no longer `schema`. Metadata errors are logged and ignored: without the
/// metadata there is no rebuild to follow, and projecting must not stop for it.
async fn follow_rebuild(
    meta: &PgPool,
    instance: &Instance,
    schema: &str,
    live: &RwLock<Live>,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<String> {
    // Held while paused: every worker has finished its batch and none starts another.
    let mut paused = None;
    loop {
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
        let _ = versions::heartbeat(meta, instance, false).await;
        tracing::info!("resumed");
    }
    match runtime::read_models::live_schema(meta).await {
        Ok(live) if live != schema => Some(live),
        _ => None,
    }
}

/// How often retired versions are looked at for dropping.
const RETIRED_CHECK: Duration = Duration::from_secs(60);

/// The controller's dropping of retired versions ([`versions::drop_retired`]): once every
/// [`RETIRED_CHECK`] those kept longer than `keep`, and every one as soon as a worker applied
/// an erasure. One drop at a time, beside the controller, so a drop waiting for a lock never
/// holds up a switch or a pause.
struct RetiredVersions {
    keep: Duration,
    dropping: Option<tokio::task::JoinHandle<()>>,
    next_check: Instant,
}

impl RetiredVersions {
    fn new(keep: Duration) -> Self {
        Self {
            keep,
            dropping: None,
            next_check: Instant::now(),
        }
    }

    /// Starts a drop if one is due and none runs; `erased` is the workers' flag.
    fn tick(&mut self, meta: &PgPool, erased: &Arc<AtomicBool>) {
        if !self.dropping.as_ref().is_none_or(|d| d.is_finished()) {
            return;
        }
        let after_erasure = erased.swap(false, Ordering::AcqRel);
        if !after_erasure && Instant::now() < self.next_check {
            return;
        }
        self.next_check = Instant::now() + RETIRED_CHECK;
        let kept = (!after_erasure).then_some(self.keep);
        let (meta, erased) = (meta.clone(), erased.clone());
        self.dropping = Some(tokio::spawn(async move {
            match versions::drop_retired(&meta, kept).await {
                Ok(dropped) if dropped.is_empty() => {}
                Ok(dropped) => tracing::info!(
                    ?dropped,
                    after_erasure,
                    "dropped retired read-model versions"
                ),
                Err(error) => {
                    tracing::warn!(%error, "cannot drop retired versions; retrying");
                    // An erasure's drop is owed until it succeeds.
                    if after_erasure {
                        erased.store(true, Ordering::Release);
                    }
                }
            }
        }));
    }
}

/// Whether `event` removes personal data from the read models.
fn erases(event: &Event) -> bool {
    use schemas::Payload;
    matches!(
        event.payload,
        Payload::ContactErased(_) | Payload::CustomerErased(_) | Payload::RetentionApplied(_)
    )
}

/// What the workers of a process share besides the live version.
#[derive(Clone)]
struct Shared {
    /// Where refused records go.
    dead_letters: Arc<KafkaSink>,
    /// Which admin records are refused.
    proofs: Arc<Proofs>,
    /// Set when a batch applied an erasure or a retention cut: retired versions, which it
    /// does not reach, are dropped ([`versions::drop_retired`]).
    erased: Arc<AtomicBool>,
}

/// Where admin records must carry proofs ([`Proofs::load`]), noted at each partition's end now
/// for the partitions that have no note yet.
pub async fn load_proofs(config: &ProjectorConfig, meta: &PgPool) -> anyhow::Result<Proofs> {
    // librdkafka's calls block, and so may dropping its client: off the async threads.
    let reading = config.clone();
    let ends = tokio::task::spawn_blocking(move || partition_ends(&reading))
        .await
        .context("reading the partitions' ends panicked")??;
    let keys = config.admin_event_keys.clone();
    Ok(Proofs::load(meta, keys, &config.topic, &ends).await?)
}

/// Each partition of the topic with its end (high watermark) now.
fn partition_ends(config: &ProjectorConfig) -> anyhow::Result<Vec<(i32, i64)>> {
    let consumer: BaseConsumer = config
        .kafka
        .client_config()
        .set("group.id", "colloquy-proofs")
        .set("enable.auto.commit", "false")
        .create()
        .context("cannot create the Kafka consumer")?;
    partitions(config, &consumer)?
        .into_iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(&config.topic, p, Duration::from_secs(5))
                .context("cannot read the partitions' ends")?;
            Ok((p, high))
        })
        .collect()
}

/// The topic's partitions.
pub fn partitions(config: &ProjectorConfig, consumer: &impl Consumer) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(&config.topic), Duration::from_secs(5))
        .context("cannot fetch topic metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    anyhow::ensure!(
        !partitions.is_empty(),
        "topic {} does not exist (run `projector setup`)",
        config.topic
    );
    Ok(partitions)
}

/// `partitions` of the topic, each at the stored offset or the beginning.
pub async fn assignment(
    config: &ProjectorConfig,
    pool: &PgPool,
    partitions: impl Iterator<Item = i32>,
) -> anyhow::Result<TopicPartitionList> {
    let stored = store::offsets::load(pool, &config.topic)
        .await
        .context("cannot read stored offsets")?;
    let mut list = TopicPartitionList::new();
    for p in partitions {
        let offset = stored
            .get(&p)
            .map_or(Offset::Beginning, |o| Offset::Offset(*o));
        list.add_partition_offset(&config.topic, p, offset)?;
    }
    Ok(list)
}

/// Waits up to `first` for one record (an empty batch when none came), then gathers more until
/// the batch is full or its latency is up.
pub async fn next_batch(
    consumer: &StreamConsumer,
    config: &ProjectorConfig,
    first: Duration,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::with_capacity(config.batch_size.min(4096));
    let deadline = match tokio::time::timeout(first, consumer.recv()).await {
        Ok(Ok(m)) => {
            batch.push(m.detach());
            tokio::time::Instant::now() + Duration::from_millis(config.batch_max_latency_ms)
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "consume error");
            tokio::time::sleep(Duration::from_millis(200)).await;
            return batch;
        }
        Err(_quiet) => return batch,
    };
    while batch.len() < config.batch_size {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(m.detach()),
            Ok(Err(error)) => tracing::warn!(%error, "consume error"),
            Err(_elapsed) => break,
        }
    }
    batch
}

/// A batch decoded: events to apply, records to dead-letter, and where each partition's
/// reading goes on.
#[derive(Debug, Default)]
pub struct Prepared {
    pub events: Vec<Applied>,
    pub poison: Vec<Poison>,
    pub next_offsets: Vec<(i32, i64)>,
}

#[derive(Debug)]
pub struct Poison {
    pub message: OwnedMessage,
    pub reason: String,
}

/// Decodes a batch, opening sealed records with their keys ([`opening`]) and checking the
/// proofs of admin records ([`Proofs`]). An error reading the keys decodes nothing: the batch is
/// retried.
pub async fn prepare(
    batch: &[OwnedMessage],
    keys: &PgPool,
    proofs: &Proofs,
) -> Result<Prepared, sqlx::Error> {
    let events = opening::open(batch.iter().map(payload), keys).await?;
    Ok(sort(batch, events, proofs))
}

/// Decodes a batch with the given key secrets.
pub fn decode(
    batch: &[OwnedMessage],
    secrets: &HashMap<Uuid, [u8; 32]>,
    proofs: &Proofs,
) -> Prepared {
    sort(
        batch,
        opening::open_with(batch.iter().map(payload), secrets),
        proofs,
    )
}

fn payload(m: &OwnedMessage) -> &[u8] {
    m.payload().unwrap_or_default()
}

/// Splits a decoded batch into events and poison (what did not decode, and admin records
/// without a valid proof), and finds where each partition goes on.
fn sort(
    batch: &[OwnedMessage],
    events: Vec<Result<Event, FieldError>>,
    proofs: &Proofs,
) -> Prepared {
    let mut prepared = Prepared::default();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (m, event) in batch.iter().zip(events) {
        let entry = next.entry(m.partition()).or_insert(0);
        *entry = (*entry).max(m.offset() + 1);
        let proven =
            event
                .map_err(|e| e.to_string())
                .and_then(|event| match proofs.check(m, &event) {
                    Ok(()) => Ok(event),
                    Err(unproven) => Err(unproven.to_string()),
                });
        match proven {
            Ok(event) => prepared.events.push(Applied {
                partition: m.partition(),
                offset: m.offset(),
                event,
            }),
            Err(reason) => prepared.poison.push(Poison {
                message: m.clone(),
                reason,
            }),
        }
    }
    prepared.next_offsets = next.into_iter().collect();
    prepared
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
    isolated.commit().await.context("cannot apply the batch")?;
    Ok(committed)
}

/// Sends `records` with their reasons to the dead-letter topic and waits for the broker.
async fn dead_letter(
    config: &ProjectorConfig,
    dead_letters: &KafkaSink,
    records: &[(&OwnedMessage, &str)],
) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let records = records
        .iter()
        .map(|(m, reason)| dead_letter_record(&config.topic, m, reason))
        .collect();
    for result in dead_letters.send(records).await {
        result.context("cannot dead-letter a poison record")?;
    }
    Ok(())
}

/// The poison record as it was, with why and where it came from in headers.
fn dead_letter_record(source_topic: &str, m: &OwnedMessage, reason: &str) -> Record {
    tracing::warn!(partition = m.partition(), offset = m.offset(), %reason, "dead-lettering record");
    let key = m
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    let mut record = Record::new(key, m.payload().unwrap_or_default().to_vec());
    record.headers = vec![
        (dlq::REASON, reason.to_owned()),
        (dlq::SOURCE_TOPIC, source_topic.to_owned()),
        (dlq::SOURCE_PARTITION, m.partition().to_string()),
        (dlq::SOURCE_OFFSET, m.offset().to_string()),
    ];
    // A replay checks an admin record's proof as the projector did.
    if let Some(proof) = crate::proofs::proof_of(m) {
        record.headers.push((PROOF_HEADER, proof.to_owned()));
    }
    record
}

async fn retry<T, F: Future<Output = anyhow::Result<T>>>(
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

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(3_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use runtime::proof::AdminKeys;

    fn record(partition: i32, offset: i64, payload: &[u8]) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.to_vec()),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        )
    }

    #[test]
    fn the_next_offset_of_each_partition_is_one_past_its_last_record() {
        let batch = [record(0, 5, b"x"), record(1, 9, b"x"), record(0, 6, b"x")];
        assert_eq!(
            decode(&batch, &HashMap::new(), &Proofs::required(AdminKeys::dev())).next_offsets,
            vec![(0, 7), (1, 10)]
        );
    }

    #[test]
    fn an_undecodable_record_is_poison_and_still_advances_its_partition() {
        let prepared = decode(
            &[record(3, 0, b"not json")],
            &HashMap::new(),
            &Proofs::required(AdminKeys::dev()),
        );
        assert_eq!(prepared.poison.len(), 1);
        assert!(prepared.events.is_empty());
        assert_eq!(prepared.next_offsets, vec![(3, 1)]);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), Duration::from_millis(3_000));
    }
}
