//! Projector configuration, from the environment (docs/configuration.md lists every variable).

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use runtime::config::{ConfigError, Source};
use runtime::kafka::KafkaConfig;
use runtime::postgres::PostgresConfig;
use runtime::proof::AdminKeys;

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    pub postgres: PostgresConfig,
    pub kafka: KafkaConfig,
    /// `KAFKA_TOPIC`.
    pub topic: String,
    /// `KAFKA_DLQ_TOPIC`: where undecodable records go.
    pub dead_letter_topic: String,
    /// `KAFKA_TOPIC_PARTITIONS`: partitions `projector setup` creates the topic with.
    pub partitions: i32,
    /// `PROJECTOR_BATCH_SIZE`: most records applied in one transaction.
    pub batch_size: usize,
    /// `PROJECTOR_BATCH_MAX_LATENCY_MS`: longest a record waits for its batch to fill.
    pub batch_max_latency_ms: u64,
    /// `PROJECTOR_FETCH_WAIT_MAX_MS`: librdkafka `fetch.wait.max.ms`; low, so a quiet
    /// partition does not hold up fresh events, but not so low that an idle projector keeps the
    /// broker busy (Tansu answers an empty fetch only when the wait ends). docs/performance.md
    /// has the measurements of both sides.
    pub fetch_wait_max_ms: u64,
    /// `PROJECTOR_IDLE_PAUSE_MS`: a worker whose partitions gave it nothing for this long
    /// stops fetching them until ingest or query-api announce records there
    /// ([`runtime::wakeup`]) or the lag monitor sees records waiting; `None` (0) fetches all
    /// the time. At least twice [`runtime::wakeup::QUIET`], or announcements could come too
    /// early.
    pub idle_pause: Option<Duration>,
    /// `PROJECTOR_LAG_INTERVAL_MS`: how often the partitions' ends are read for the lag
    /// metrics; an idle worker whose partitions have records nobody announced (another
    /// producer, an announcement lost with its connection) wakes when they are seen.
    pub lag_interval: Duration,
    /// `PROJECTOR_WORKERS`: how many shares of the partitions are applied at once, each on its
    /// own consumer and Postgres connection; docs/performance.md measures one, two and three.
    pub workers: usize,
    /// `PROJECTOR_LEASE_TTL_MS`: how long a partition stays with a process that stopped
    /// renewing its lease (renewed every quarter of it), so about how long the partitions of a
    /// process that died wait for another to take them ([`crate::leases`]).
    pub lease_ttl: Duration,
    /// `PROJECTOR_WORKER_STALL_S`: a worker that has not come round its loop for this long
    /// (stuck, though its process lives) is stalled: its leases are no longer renewed but
    /// given up, so other workers take its partitions, and it is started again.
    pub worker_stall: Duration,
    /// `PROJECTOR_FAILPOINT_HANG`: for fault tests only; when the file it names appears, one
    /// worker deletes it and hangs (never comes round its loop again).
    pub failpoint_hang: Option<std::path::PathBuf>,
    /// `PROJECTOR_ADDR`: health endpoints.
    pub addr: SocketAddr,
    /// `PROJECTOR_KEEP_RETIRED_S`: how long a version stays after a rebuild replaced it (for
    /// comparison) before the live projector drops it; an erasure or retention cut drops it at
    /// once, since it would not reach it ([`crate::versions::drop_retired`]).
    pub keep_retired: Duration,
    /// `ADMIN_EVENT_KEYS`: the keys admin records must be signed with ([`crate::proofs`]).
    pub admin_event_keys: AdminKeys,
}

impl ProjectorConfig {
    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let addr = env.parse_or("PROJECTOR_ADDR", SocketAddr::from(([127, 0, 0, 1], 8082)))?;
        Ok(Self {
            admin_event_keys: AdminKeys::from_source(env, addr.ip())?,
            postgres: PostgresConfig::from_source(env, 4)?,
            kafka: KafkaConfig::from_source(env)?,
            topic: env.string_or("KAFKA_TOPIC", "chat-events"),
            dead_letter_topic: env.string_or("KAFKA_DLQ_TOPIC", "chat-events-dlq"),
            partitions: env.parse_or("KAFKA_TOPIC_PARTITIONS", 12)?,
            batch_size: env.parse_or("PROJECTOR_BATCH_SIZE", 2_000)?,
            batch_max_latency_ms: env.parse_or("PROJECTOR_BATCH_MAX_LATENCY_MS", 20)?,
            fetch_wait_max_ms: env.parse_or("PROJECTOR_FETCH_WAIT_MAX_MS", 100)?,
            idle_pause: idle_pause(env)?,
            lag_interval: Duration::from_millis(
                env.parse_or(
                    "PROJECTOR_LAG_INTERVAL_MS",
                    NonZeroU64::new(5_000).expect("nonzero"),
                )?
                .get(),
            ),
            workers: env
                .parse_or("PROJECTOR_WORKERS", NonZeroUsize::new(2).expect("two"))?
                .get(),
            lease_ttl: Duration::from_millis(
                env.parse_or(
                    "PROJECTOR_LEASE_TTL_MS",
                    NonZeroU64::new(10_000).expect("nonzero"),
                )?
                .get(),
            ),
            keep_retired: Duration::from_secs(env.parse_or("PROJECTOR_KEEP_RETIRED_S", 86_400)?),
            worker_stall: Duration::from_secs(env.parse_or("PROJECTOR_WORKER_STALL_S", 60)?),
            failpoint_hang: env
                .get("PROJECTOR_FAILPOINT_HANG")
                .filter(|p| !p.is_empty())
                .map(Into::into),
            addr,
        })
    }

    /// A config for tests: the given database, brokers and topic, defaults elsewhere.
    pub fn new(postgres: PostgresConfig, kafka: KafkaConfig, topic: impl Into<String>) -> Self {
        let topic = topic.into();
        Self {
            postgres,
            kafka,
            dead_letter_topic: format!("{topic}-dlq"),
            topic,
            partitions: 12,
            batch_size: 2_000,
            batch_max_latency_ms: 20,
            fetch_wait_max_ms: 100,
            idle_pause: Some(DEFAULT_IDLE_PAUSE),
            lag_interval: Duration::from_secs(5),
            workers: 2,
            lease_ttl: Duration::from_secs(10),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_event_keys: AdminKeys::dev(),
            keep_retired: Duration::from_secs(86_400),
            worker_stall: Duration::from_secs(60),
            failpoint_hang: None,
        }
    }
}

const DEFAULT_IDLE_PAUSE: Duration = Duration::from_secs(2);

fn idle_pause(env: &impl Source) -> Result<Option<Duration>, ConfigError> {
    let name = "PROJECTOR_IDLE_PAUSE_MS";
    let default = u64::try_from(DEFAULT_IDLE_PAUSE.as_millis()).unwrap_or(u64::MAX);
    let pause = Duration::from_millis(env.parse_or(name, default)?);
    let least = 2 * runtime::wakeup::QUIET;
    match pause {
        p if p.is_zero() => Ok(None),
        p if p < least => Err(ConfigError::Invalid {
            name: name.into(),
            message: format!(
                "at least {} ms (twice the quiet spell after which producers announce records), or 0 to never pause",
                least.as_millis()
            ),
        }),
        p => Ok(Some(p)),
    }
}
