//! Prometheus metrics, served at `GET /metrics` on the health port (`PROJECTOR_ADDR`).
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `projector_build_info` | gauge | `version`, `commit` | as every service has it ([`runtime::metrics`]) |
//! | `projector_events_applied_total` | counter | | events applied for the first time |
//! | `projector_events_duplicate_total` | counter | | records whose event id was already applied |
//! | `projector_events_dead_lettered_total` | counter | | records sent to the dead-letter topic |
//! | `projector_workers_restarted_total` | counter | | workers found stalled (`PROJECTOR_WORKER_STALL_S`), their partitions given up, and started again |
//! | `projector_workers_idle` | gauge | | workers that stopped fetching because their partitions were quiet (`PROJECTOR_IDLE_PAUSE_MS`), until records are announced there |
//! | `projector_batch_seconds` | histogram | | from a batch's first record to its commit |
//! | `projector_partitions_held` | gauge | | partitions this process holds a lease on |
//! | `projector_topic_partitions` | gauge | | partitions the topic has, refreshed every few seconds: with the sum of `projector_partitions_held` over every process, a partition no one holds shows |
//! | `projector_applied_offset` | gauge | `partition` | the next offset to apply, as stored, of each partition held |
//! | `projector_high_watermark` | gauge | `partition` | the partition's end, refreshed every few seconds |
//! | `projector_lag` | gauge | `partition` | records of a partition held not applied yet |
//! | `projector_partition_stalled_seconds` | gauge | `partition` | while a partition held has records waiting: how long since its stored offset last moved (or it was taken); 0 when it has none waiting. A worker that hangs without dying shows here |
//!
//! With several projector processes, each reports the partitions it holds; the sum of
//! `projector_lag` over all of them is the topic's.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rdkafka::consumer::{BaseConsumer, Consumer};
use runtime::kafka::KafkaConfig;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub partition: i32,
}

pub struct ProjectorMetrics {
    registry: Registry,
    pub applied: Counter,
    pub duplicates: Counter,
    pub dead_lettered: Counter,
    pub workers_restarted: Counter,
    pub workers_idle: Gauge,
    pub batch_seconds: Histogram,
    pub partitions_held: Gauge,
    pub topic_partitions: Gauge,
    pub applied_offset: Family<PartitionLabels, Gauge>,
    pub high_watermark: Family<PartitionLabels, Gauge>,
    pub lag: Family<PartitionLabels, Gauge>,
    pub stalled: Family<PartitionLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Per partition held: its stored offset, when that last moved (or the partition was
    /// taken), and since when it has had records waiting.
    progress: std::sync::Mutex<std::collections::HashMap<i32, Progress>>,
}

impl Default for ProjectorMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        runtime::metrics::build_info(&mut registry, "projector", env!("CARGO_PKG_VERSION"));
        let m = Self {
            registry: Registry::default(),
            applied: Counter::default(),
            duplicates: Counter::default(),
            dead_lettered: Counter::default(),
            workers_restarted: Counter::default(),
            workers_idle: Gauge::default(),
            // 1 ms to about 33 s.
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            partitions_held: Gauge::default(),
            topic_partitions: Gauge::default(),
            applied_offset: Family::default(),
            high_watermark: Family::default(),
            lag: Family::default(),
            stalled: Family::default(),
            progress: Default::default(),
        };
        registry.register(
            "projector_events_applied",
            "Events applied for the first time",
            m.applied.clone(),
        );
        registry.register(
            "projector_events_duplicate",
            "Records whose event id was already applied",
            m.duplicates.clone(),
        );
        registry.register(
            "projector_events_dead_lettered",
            "Records sent to the dead-letter topic",
            m.dead_lettered.clone(),
        );
        registry.register(
            "projector_workers_restarted",
            "Workers found stalled, their partitions given up, and started again",
            m.workers_restarted.clone(),
        );
        registry.register(
            "projector_workers_idle",
            "Workers that stopped fetching because their partitions were quiet",
            m.workers_idle.clone(),
        );
        registry.register(
            "projector_batch_seconds",
            "From a batch's first record to its commit",
            m.batch_seconds.clone(),
        );
        registry.register(
            "projector_partitions_held",
            "Partitions this process holds a lease on",
            m.partitions_held.clone(),
        );
        registry.register(
            "projector_topic_partitions",
            "Partitions the topic has",
            m.topic_partitions.clone(),
        );
        registry.register(
            "projector_applied_offset",
            "Next offset to apply, as stored",
            m.applied_offset.clone(),
        );
        registry.register(
            "projector_high_watermark",
            "The partition's end",
            m.high_watermark.clone(),
        );
        registry.register(
            "projector_lag",
            "Records in the topic not applied yet",
            m.lag.clone(),
        );
        registry.register(
            "projector_partition_stalled_seconds",
            "While a partition held has records waiting, time since its stored offset last moved",
            m.stalled.clone(),
        );
        Self { registry, ..m }
    }
}

/// Where a partition held stands, for `projector_partition_stalled_seconds`.
#[derive(Debug, Clone, Copy)]
struct Progress {
    offset: i64,
    moved_at: std::time::Instant,
    waiting_since: Option<std::time::Instant>,
}

impl ProjectorMetrics {
    /// Records the offsets a committed batch stored, and the lag they leave.
    pub fn stored(&self, next_offsets: &[(i32, i64)]) {
        let now = std::time::Instant::now();
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        for &(partition, next) in next_offsets {
            let labels = PartitionLabels { partition };
            self.applied_offset.get_or_create(&labels).set(next);
            let high = self.high_watermark.get_or_create(&labels).get();
            let lag = (high - next).max(0);
            self.lag.get_or_create(&labels).set(lag);
            let entry = progress.entry(partition).or_insert(Progress {
                offset: next,
                moved_at: now,
                waiting_since: None,
            });
            if entry.offset != next {
                entry.offset = next;
                entry.moved_at = now;
            }
        }
    }

    /// Sets each held partition's `projector_partition_stalled_seconds` as of `now`, from its
    /// lag and when it last moved.
    /// Whether any of `partitions` has records waiting, as of the last read of their ends.
    pub fn waiting(&self, partitions: impl IntoIterator<Item = i32>) -> bool {
        partitions.into_iter().any(|partition| {
            self.lag
                .get(&PartitionLabels { partition })
                .is_some_and(|lag| lag.get() > 0)
        })
    }

    pub fn note_stalls(&self, now: std::time::Instant) {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        for (&partition, p) in progress.iter_mut() {
            let labels = PartitionLabels { partition };
            let lag = self.lag.get(&labels).map_or(0, |g| g.get());
            // Stalled since the later of its last move and the moment records came to wait:
            // a partition idle for hours is not stalled the moment a record arrives.
            let stalled = if lag > 0 {
                let waiting = *p.waiting_since.get_or_insert(now);
                now.saturating_duration_since(p.moved_at.max(waiting))
                    .as_secs_f64()
            } else {
                p.waiting_since = None;
                0.0
            };
            self.stalled.get_or_create(&labels).set(stalled);
        }
    }

    /// A worker's partitions changed from `before` to `after`: the ones it gave up are
    /// another process's to report.
    pub fn held<V>(
        &self,
        before: &std::collections::BTreeMap<i32, V>,
        after: &std::collections::BTreeMap<i32, V>,
    ) {
        let count = |m: &std::collections::BTreeMap<i32, V>| i64::try_from(m.len()).unwrap_or(0);
        self.partitions_held.inc_by(count(after) - count(before));
        for partition in before.keys().filter(|p| !after.contains_key(p)) {
            let labels = PartitionLabels {
                partition: *partition,
            };
            self.applied_offset.remove(&labels);
            self.lag.remove(&labels);
            self.stalled.remove(&labels);
            self.progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(partition);
        }
    }

    pub fn encode(&self) -> String {
        runtime::metrics::encode(&self.registry)
    }
}

/// Refreshes every partition's high watermark (and so its lag) every `interval`, with a client
/// of its own so the consume loop never waits on these calls.
pub fn spawn_lag_monitor(
    metrics: Arc<ProjectorMetrics>,
    kafka: &KafkaConfig,
    topic: String,
    interval: Duration,
) {
    let consumer: BaseConsumer = match kafka
        .client_config()
        .set("group.id", "colloquy-projector-lag")
        .create()
    {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(%error, "no lag metrics: cannot create a client");
            return;
        }
    };
    // One short blocking call per round, with the wait between rounds async: a loop inside
    // `spawn_blocking` would never return, and a runtime shutting down waits for blocking
    // tasks, so SIGTERM would stop the consumer but never end the process.
    let consumer = Arc::new(consumer);
    tokio::spawn(async move {
        loop {
            let (consumer, metrics, topic) = (consumer.clone(), metrics.clone(), topic.clone());
            let _ = tokio::task::spawn_blocking(move || refresh(&consumer, &metrics, &topic)).await;
            tokio::time::sleep(interval).await;
        }
    });
}

fn refresh(consumer: &BaseConsumer, metrics: &ProjectorMetrics, topic: &str) {
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
        return;
    };
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    metrics.topic_partitions.set(partitions.len() as i64);
    for partition in partitions {
        if let Ok((_, high)) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
            let labels = PartitionLabels { partition };
            metrics.high_watermark.get_or_create(&labels).set(high);
            // Only the partitions this process holds have a position here.
            let Some(applied) = metrics.applied_offset.get(&labels).map(|g| g.get()) else {
                continue;
            };
            metrics
                .lag
                .get_or_create(&labels)
                .set((high - applied).max(0));
        }
    }
    metrics.note_stalls(std::time::Instant::now());
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn stalled(m: &ProjectorMetrics, partition: i32) -> f64 {
        m.stalled
            .get_or_create(&PartitionLabels { partition })
            .get()
    }

    fn set_high(m: &ProjectorMetrics, partition: i32, high: i64) {
        m.high_watermark
            .get_or_create(&PartitionLabels { partition })
            .set(high);
        let applied = m
            .applied_offset
            .get_or_create(&PartitionLabels { partition })
            .get();
        m.lag
            .get_or_create(&PartitionLabels { partition })
            .set((high - applied).max(0));
    }

    /// A partition with records waiting whose offset does not move is stalled for as long as
    /// they wait; one that moves, or has nothing waiting, is not; the wait counts from when
    /// records came, not from the partition's last move hours before.
    #[test]
    fn a_partition_is_stalled_while_records_wait_and_its_offset_stands_still() {
        let m = ProjectorMetrics::default();
        let t0 = Instant::now();
        m.stored(&[(0, 100), (1, 100)]);
        set_high(&m, 0, 100);
        set_high(&m, 1, 100);
        m.note_stalls(t0 + Duration::from_secs(3600));
        assert_eq!(stalled(&m, 0), 0.0, "nothing waits");
        // Records arrive on both at once, an hour after the last move.
        set_high(&m, 0, 150);
        set_high(&m, 1, 150);
        let arrived = t0 + Duration::from_secs(3600);
        m.note_stalls(arrived);
        assert_eq!(stalled(&m, 0), 0.0, "just arrived");
        // Partition 1's worker commits; partition 0's does not.
        m.stored(&[(1, 150)]);
        set_high(&m, 1, 150);
        m.note_stalls(arrived + Duration::from_secs(90));
        assert_eq!(stalled(&m, 0), 90.0);
        assert_eq!(stalled(&m, 1), 0.0);
    }
}
