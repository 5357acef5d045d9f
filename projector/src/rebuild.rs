//! `projector rebuild`: builds the next version of every read model from offset 0 of the topic
//! into a new schema while the live version keeps serving, verifies it against the live one,
//! and switches. See ARCHITECTURE.md ("Rebuilds").
//!
//! 1. Catch up: consume from the beginning into the new schema, never past the live version's
//!    stored offsets (the live projector keeps moving them, so this chases it).
//! 2. Stand still: ask the live projector to pause between batches (if one is running), then
//!    finish up to exactly its offsets. Both versions now reflect the same records.
//! 3. Verify: every table both built with the same projection code must have the same rows;
//!    a mismatch prints the differing rows, releases the live projector and stops.
//! 4. Switch: one transaction makes the new version live; the live projector moves to it and
//!    resumes from its offsets, query-api follows at once (the switch is announced,
//!    [`runtime::wakeup::CONTROL`]).
//!
//! Poison records are not dead-lettered again: side effects are muted while rebuilding.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use sqlx::PgPool;

use crate::config::ProjectorConfig;
use crate::consumer::{self, next_batch, partitions, prepare};
use crate::store::{self, MIGRATOR};
use crate::{deferred_indexes, verify, versions};

/// How long the rebuild waits for the live projector to pause before giving up.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(30);
/// A live projector whose heartbeat is older than this is taken as not running.
const ALIVE_S: f64 = 5.0;

pub struct Rebuilt {
    pub version: i32,
    pub schema: String,
    pub events: u64,
    /// How long the parity check took.
    pub verified_in: Duration,
    pub checks: Vec<verify::TableCheck>,
}

/// Builds, verifies and switches to the next version. `meta` is a pool on the default schema.
pub async fn rebuild(config: &ProjectorConfig, meta: &PgPool) -> anyhow::Result<Rebuilt> {
    versions::ensure_meta(meta).await?;
    let live = runtime::read_models::live_schema(meta).await?;
    let live_pool = runtime::read_models::pool_for_schema(&config.postgres, &live)?;
    let next = versions::create_next(meta).await?;
    let pool = runtime::read_models::pool_for_schema(&config.postgres, &next.schema_name)?;
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot migrate the new version")?;
    versions::record_projection_versions(meta, &next.schema_name).await?;
    let deferred = deferred_indexes::drop(&pool, &next.schema_name).await?;
    store::quarters::pause(&pool)
        .await
        .context("cannot pause the statistics' triggers")?;
    eprintln!(
        "rebuilding every read model from the beginning of {} into {} (live: {live})",
        config.topic, next.schema_name
    );
    let result = build(config, meta, &live_pool, &pool, &deferred).await;
    let events = match result {
        Ok(events) => events,
        Err(error) => {
            let _ = versions::request_pause(meta, false).await;
            let _ = versions::mark(meta, next.version, "failed").await;
            return Err(error);
        }
    };
    let started = Instant::now();
    let checks = verify::compare(meta, &live, &next.schema_name).await?;
    let mismatched: Vec<&verify::TableCheck> = checks.iter().filter(|c| !c.equal).collect();
    if !mismatched.is_empty() {
        for check in &mismatched {
            eprintln!(
                "MISMATCH {}: live {} rows, new {} rows",
                check.table, check.live_rows, check.new_rows
            );
            for row in
                verify::rows_only_in(meta, &live, &next.schema_name, &check.table, 10).await?
            {
                eprintln!("  only live: {row}");
            }
            for row in
                verify::rows_only_in(meta, &next.schema_name, &live, &check.table, 10).await?
            {
                eprintln!("  only new:  {row}");
            }
        }
        versions::request_pause(meta, false).await?;
        versions::mark(meta, next.version, "failed").await?;
        anyhow::bail!(
            "version {} differs from the live one in {} table(s); not switching (it stays for inspection until `projector drop-version {}`)",
            next.version,
            mismatched.len(),
            next.version
        );
    }
    versions::switch_to(meta, next.version).await?;
    Ok(Rebuilt {
        version: next.version,
        schema: next.schema_name,
        events,
        verified_in: started.elapsed(),
        checks,
    })
}

/// How close (in records) the rebuild gets to the live version before pausing it: the pause
/// then lasts as long as applying this many records.
const PAUSE_GAP: i64 = 5_000;

/// Consumes into `pool` until it holds exactly what the (paused) live version holds.
///
/// Bulk phase: every partition from its position, never applying past the live version's
/// stored offsets (records beyond them are dropped and read again later), leaving the derived
/// read models (contact rows and links, erasure) and the `deferred` indexes (dropped
/// by the caller) to one pass at its end. Once within
/// [`PAUSE_GAP`] of the live version, or as soon as one partition has caught up with it, the
/// live projector is paused and its offsets become the fixed target of the final phase.
///
/// Each batch is applied while the next one is read and decoded; before anything that depends
/// on exact positions (a seek, the derive pass, the end) the batch in flight is finished.
async fn build(
    config: &ProjectorConfig,
    meta: &PgPool,
    live: &PgPool,
    pool: &PgPool,
    deferred: &[String],
) -> anyhow::Result<u64> {
    let consumer = consumer::consumer(&reading_history(config), "colloquy-rebuild")?;
    let partitions = partitions(config, &consumer)?;
    // Admin records the live projector refused for want of a proof are refused here too.
    let proofs = consumer::load_proofs(config, meta).await?;
    let mut positions: BTreeMap<i32, i64> = partitions.iter().map(|p| (*p, 0)).collect();
    let mut target: Option<HashMap<i32, i64>> = None;
    let mut reassign = true;
    let mut overshot = false;
    let mut progress = Progress::new(config, &consumer, &partitions);
    // Records applied before the next ANALYZE: 1,000, 2,000, 4,000, …
    let mut next_analyze = 1_000u64;
    let mut derive = store::Derive::Later;
    let mut in_flight: Option<InFlight> = None;
    loop {
        let cap = match &target {
            Some(t) => t.clone(),
            None => store::offsets::load(live, &config.topic).await?,
        };
        let cap_of = |p: &i32| cap.get(p).copied().unwrap_or(0);
        let remaining: i64 = partitions
            .iter()
            .map(|p| (cap_of(p) - positions[p]).max(0))
            .sum();
        let settle = reassign
            || (target.is_some() && remaining == 0)
            || (target.is_none() && (remaining <= PAUSE_GAP || overshot));
        if settle && let Some(batch) = in_flight.take() {
            let (records, next_offsets) = batch.await??;
            positions.extend(next_offsets);
            progress.tick(records, positions.values().sum());
            continue;
        }
        if target.is_some() && remaining == 0 {
            break;
        }
        if target.is_none() && (remaining <= PAUSE_GAP || overshot) {
            // The bulk phase left the derived read models and the read-only indexes for now:
            // bring them up to date once, before the live projector pauses, and derive batch
            // by batch from here. The broker is idle now, so this uses two connections: the
            // indexes of tables the derive pass does not rewrite are built beside it, the
            // others after it (building them first would make it update every index).
            let started = Instant::now();
            let (beside, after): (Vec<String>, Vec<String>) = deferred
                .iter()
                .cloned()
                .partition(|d| !deferred_indexes::on_any(d, store::DERIVED_TABLES));
            let derive_pass = async {
                analyze(pool, None).await?;
                store::derive_all(pool)
                    .await
                    .context("cannot derive contacts")?;
                anyhow::Ok(started.elapsed())
            };
            let indexes = async {
                deferred_indexes::create(pool, &beside)
                    .await
                    .context("cannot create the read-only indexes")
            };
            let (derived, ()) = tokio::try_join!(derive_pass, indexes)?;
            derive = store::Derive::Now;
            let half = after.len().div_ceil(2);
            tokio::try_join!(
                deferred_indexes::create(pool, &after[..half]),
                deferred_indexes::create(pool, &after[half..])
            )
            .context("cannot create the read-only indexes")?;
            analyze(pool, Some(store::DERIVED_TABLES)).await?;
            eprintln!(
                "derived contacts, links and erasures in {:.1}s, indexed by {:.1}s",
                derived.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
            pause_live(meta).await?;
            target = Some(store::offsets::load(live, &config.topic).await?);
            reassign = true;
            continue;
        }
        if reassign {
            // Assigning with explicit offsets seeks. In the final phase only the partitions
            // still behind the target are read.
            let mut list = TopicPartitionList::new();
            for p in &partitions {
                if target.is_none() || positions[p] < cap_of(p) {
                    list.add_partition_offset(&config.topic, *p, Offset::Offset(positions[p]))?;
                }
            }
            consumer.assign(&list).context("cannot assign partitions")?;
            reassign = false;
        }
        let read = async {
            prepare(
                &next_batch(&consumer, config, Duration::from_millis(500)).await,
                meta,
                &proofs,
            )
            .await
            .context("cannot read the keys of sealed records")
        };
        let finish = async {
            match in_flight.take() {
                Some(batch) => Some(batch.await),
                None => None,
            }
        };
        let (prepared, finished) = tokio::join!(read, finish);
        if let Some(finished) = finished {
            let (records, next_offsets) = finished??;
            positions.extend(next_offsets);
            progress.tick(records, positions.values().sum());
            if progress.events >= next_analyze {
                analyze(pool, None).await?;
                next_analyze *= 2;
            }
        }
        let kept = Within::keep(prepared?, &positions, &cap);
        if kept.past_cap {
            // Past the live version: read again from the position later.
            overshot = true;
            reassign = true;
        }
        if kept.records == 0 {
            continue;
        }
        let (pool, topic) = (pool.clone(), config.topic.clone());
        in_flight = Some(tokio::spawn(async move {
            apply(&pool, &topic, &kept.events, &kept.next_offsets, derive)
                .await
                .context("cannot apply a batch to the new version")?;
            Ok((kept.records, kept.next_offsets))
        }));
    }
    Ok(progress.done())
}

/// Applies a batch as the live projector does, passing over the events the read models refuse
/// for their data (the live projector dead-lettered them; a rebuild mutes side effects).
async fn apply(
    pool: &PgPool,
    topic: &str,
    events: &[store::Applied],
    next_offsets: &[(i32, i64)],
    derive: store::Derive,
) -> Result<(), sqlx::Error> {
    let isolated =
        store::apply_isolating(pool.begin().await?, topic, events, next_offsets, derive).await?;
    for refused in &isolated.refused {
        let event = &events[refused.index];
        eprintln!(
            "passed over partition {} offset {}: {}",
            event.partition, event.offset, refused.reason
        );
    }
    isolated.commit().await
}

/// A batch being applied: how many records it covers, and the positions it moves to.
type InFlight = tokio::task::JoinHandle<anyhow::Result<(u64, Vec<(i32, i64)>)>>;

/// The part of a decoded batch that continues every partition from its position and stays
/// below the cap (the live version's offsets). Poison records count as read: a rebuild mutes
/// side effects, and the live projector dead-lettered them already.
struct Within {
    events: Vec<store::Applied>,
    next_offsets: Vec<(i32, i64)>,
    records: u64,
    past_cap: bool,
}

impl Within {
    fn keep(
        prepared: consumer::Prepared,
        positions: &BTreeMap<i32, i64>,
        cap: &HashMap<i32, i64>,
    ) -> Self {
        let mut kept = Self {
            events: Vec::with_capacity(prepared.events.len()),
            next_offsets: Vec::new(),
            records: 0,
            past_cap: false,
        };
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        let mut take = |partition: i32, offset: i64| {
            let from = positions.get(&partition).copied().unwrap_or(0);
            let below = cap.get(&partition).copied().unwrap_or(0);
            if offset >= below {
                kept.past_cap = true;
            }
            let within = offset >= from && offset < below;
            if within {
                kept.records += 1;
                let entry = next.entry(partition).or_insert(0);
                *entry = (*entry).max(offset + 1);
            }
            within
        };
        let poison: Vec<(i32, i64)> = prepared
            .poison
            .iter()
            .map(|p| (p.message.partition(), p.message.offset()))
            .collect();
        for (partition, offset) in poison {
            take(partition, offset);
        }
        let events: Vec<store::Applied> = prepared
            .events
            .into_iter()
            .filter(|a| take(a.partition, a.offset))
            .collect();
        kept.events = events;
        kept.next_offsets = next.into_iter().collect();
        kept
    }
}

/// Consumer settings for reading history, where records are always waiting: fewer, fuller
/// fetches cost the broker less per record (Tansu served a 200,000-record rebuild with 17
/// CPU-seconds instead of 24). `KAFKA_PROPERTIES` still wins.
fn reading_history(config: &ProjectorConfig) -> ProjectorConfig {
    let mut config = config.clone();
    config.fetch_wait_max_ms = config.fetch_wait_max_ms.max(200);
    config
        .kafka
        .properties
        .insert(0, ("fetch.min.bytes".into(), "1000000".into()));
    config
}

/// Refreshes the planner's statistics of the new version's tables. They start empty and grow
/// faster than autovacuum notices, and plans made for empty tables (sequential scans, nested
/// loops) turn each batch's cost from proportional to the batch into proportional to history.
/// `only` limits it to those tables.
async fn analyze(pool: &PgPool, only: Option<&[&str]>) -> anyhow::Result<()> {
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(pool)
        .await?;
    for table in verify::tables(pool, &schema).await? {
        if only.is_some_and(|only| !only.contains(&table.as_str())) {
            continue;
        }
        sqlx::query(&format!("ANALYZE \"{schema}\".\"{table}\""))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Asks the live projector to pause and waits until it has (or until it is clear none runs).
async fn pause_live(meta: &PgPool) -> anyhow::Result<()> {
    versions::request_pause(meta, true).await?;
    let deadline = Instant::now() + PAUSE_TIMEOUT;
    loop {
        let (paused, alive) = versions::live_projector(meta, ALIVE_S).await?;
        if paused {
            eprintln!("caught up; the live projector paused for the final check");
            return Ok(());
        }
        if !alive {
            eprintln!("caught up; no live projector is running");
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the live projector did not pause within {PAUSE_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A progress line on stderr: records read of the topic's total, records per second, time left.
struct Progress {
    started: Instant,
    last: Instant,
    total: i64,
    events: u64,
    terminal: bool,
}

impl Progress {
    fn new(config: &ProjectorConfig, consumer: &StreamConsumer, partitions: &[i32]) -> Self {
        let total = partitions
            .iter()
            .filter_map(|p| {
                consumer
                    .fetch_watermarks(&config.topic, *p, Duration::from_secs(5))
                    .ok()
            })
            .map(|(_, high)| high)
            .sum();
        Self {
            started: Instant::now(),
            last: Instant::now(),
            total,
            events: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self, records: u64, position: i64) {
        self.events += records;
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let rate = self.events as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let total = self.total.max(position).max(1);
        let share = position as f64 / total as f64;
        let left = (total - position).max(0) as f64 / rate.max(1.0);
        let filled = (share * 30.0) as usize;
        let line = format!(
            "[{}{}] {:>3.0}% {position}/{total} records  {rate:.0}/s  {left:.0}s left",
            "#".repeat(filled),
            ".".repeat(30 - filled.min(30)),
            share * 100.0
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn done(&self) -> u64 {
        if self.terminal {
            eprintln!();
        }
        let rate = self.events as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "read {} records in {:.1}s ({rate:.0}/s)",
            self.events,
            self.started.elapsed().as_secs_f64()
        );
        self.events
    }
}

/// Reads the whole topic from the beginning with the rebuild's consumer settings and does
/// nothing with the records: the broker's raw consume rate on this machine, the ceiling a
/// rebuild is measured against. Returns (records, seconds).
pub async fn consume_rate(config: &ProjectorConfig) -> anyhow::Result<(u64, f64)> {
    let consumer = consumer::consumer(&reading_history(config), "colloquy-consume-rate")?;
    let partitions = partitions(config, &consumer)?;
    let mut ends = BTreeMap::new();
    let mut list = TopicPartitionList::new();
    for p in &partitions {
        let (_, high) = consumer.fetch_watermarks(&config.topic, *p, Duration::from_secs(5))?;
        if high > 0 {
            ends.insert(*p, high);
            list.add_partition_offset(&config.topic, *p, Offset::Beginning)?;
        }
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let mut records = 0u64;
    while !ends.is_empty() {
        let batch = next_batch(&consumer, config, Duration::from_secs(5)).await;
        anyhow::ensure!(!batch.is_empty(), "the topic stopped yielding records");
        for m in &batch {
            records += 1;
            if ends
                .get(&m.partition())
                .is_some_and(|end| m.offset() + 1 >= *end)
            {
                ends.remove(&m.partition());
            }
        }
    }
    Ok((records, started.elapsed().as_secs_f64()))
}
