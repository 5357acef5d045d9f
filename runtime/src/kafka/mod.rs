//! Kafka: client settings, topic creation, and the event sink producers write through.
//!
//! The code talks to the broker only through rdkafka, so any Kafka-compatible broker works
//! (Apache Kafka, Redpanda, or Tansu on a developer machine).
//!
//! Over 500 lines with its unit tests (a tenth of it), kept beside the client settings they test.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};

use crate::config::{ConfigError, Source};
use crate::wakeup::Announcer;

mod producer;

pub use producer::Delivered;
use producer::QuietProducer;

/// Connection settings shared by every Kafka client of a service.
#[derive(Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS`: comma-separated `host:port` list.
    pub brokers: String,
    /// librdkafka settings: those of [`SECURITY`], then `KAFKA_PROPERTIES` (`key=value`
    /// separated by commas, for any other; it wins where both set one).
    pub properties: Vec<(String, String)>,
}

/// The settings of a secured cluster, each a variable of its own (so that a password can come
/// from a secret store while the rest is plain configuration), and the librdkafka property it
/// sets. TLS uses the system OpenSSL; SASL mechanisms `PLAIN`, `SCRAM-SHA-256`,
/// `SCRAM-SHA-512` and `OAUTHBEARER` are built in (GSSAPI/Kerberos is not).
pub const SECURITY: &[(&str, &str)] = &[
    // plaintext (default), ssl, sasl_plaintext, sasl_ssl
    ("KAFKA_SECURITY_PROTOCOL", "security.protocol"),
    ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
    ("KAFKA_SASL_USERNAME", "sasl.username"),
    ("KAFKA_SASL_PASSWORD", "sasl.password"),
    // A PEM file of the CAs to trust; the system's when unset.
    ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
    // A client certificate and key, for clusters that authenticate clients by TLS.
    ("KAFKA_SSL_CERTIFICATE_LOCATION", "ssl.certificate.location"),
    ("KAFKA_SSL_KEY_LOCATION", "ssl.key.location"),
    ("KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
];

/// Settings whose values are secrets, never printed.
fn secret(key: &str) -> bool {
    key.contains("password") || key.contains("secret")
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if secret(k) { "<redacted>" } else { v.as_str() },
                )
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("properties", &properties)
            .finish()
    }
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            properties: Vec::new(),
        }
    }

    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let mut properties: Vec<(String, String)> = SECURITY
            .iter()
            .filter_map(|(name, key)| {
                let value = env.string_or(name, "");
                (!value.is_empty()).then(|| ((*key).to_owned(), value))
            })
            .collect();
        for pair in env
            .string_or("KAFKA_PROPERTIES", "")
            .split(',')
            .filter(|p| !p.trim().is_empty())
        {
            let (k, v) = pair.split_once('=').ok_or_else(|| ConfigError::Invalid {
                name: "KAFKA_PROPERTIES".into(),
                message: format!("{pair:?} is not key=value"),
            })?;
            properties.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(Self {
            brokers: env.string_or("KAFKA_BROKERS", "127.0.0.1:9092"),
            properties,
        })
    }

    /// A librdkafka config with the brokers and extra properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        // librdkafka backs off up to 10 s between reconnects by default; after a broker
        // restart that is up to 10 s of needless 503s and projection lag.
        config.set("reconnect.backoff.ms", "100");
        config.set("reconnect.backoff.max.ms", "1000");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }
}

/// Creates each `(topic, partitions)` that does not exist yet. Existing topics are left as
/// they are (partition counts are never changed here: that would move keys).
pub async fn ensure_topics(kafka: &KafkaConfig, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic, ?code, "topic creation failed");
                });
            }
        }
    }
    Ok(())
}

/// One record to produce: the key picks (and orders within) the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Record {
    pub fn new(key: impl Into<String>, value: Vec<u8>) -> Self {
        Self {
            key: key.into(),
            value,
            headers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The broker is unreachable, slow or the local queue is full: retry later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the record itself (e.g. too large): retrying will not help.
    #[error("record rejected by the broker: {0}")]
    Rejected(String),
}

/// Where acknowledged events go. "Pure mechanism": routing and validation happen before it.
pub trait EventSink: Send + Sync + 'static {
    /// Produces every record and resolves once each is acknowledged or has failed; the result
    /// has one entry per record, in order.
    fn send(&self, records: Vec<Record>) -> BoxFuture<'_, Vec<Result<(), SinkError>>>;

    /// Whether the sink can currently reach its broker.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), SinkError>>;

    /// Records waiting in the local queue or in flight, when the sink has a queue.
    fn queue_depth(&self) -> Option<i64> {
        None
    }

    /// From now on, partitions that receive records after a quiet spell are announced through
    /// `announcer`, so an idle projector resumes them at once ([`crate::wakeup`]). Sinks with
    /// no partitions ignore it.
    fn announce_through(&self, announcer: Arc<Announcer>) {
        let _ = announcer;
    }
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub topic: String,
    /// `KAFKA_DELIVERY_TIMEOUT_MS`: after this a record that was not acknowledged fails, so a
    /// request never waits longer for the broker.
    pub delivery_timeout_ms: u64,
    /// `KAFKA_QUEUE_MAX_MESSAGES`: bound on records waiting in the local queue; beyond it
    /// producing fails at once (backpressure) instead of growing memory.
    pub queue_max_messages: u32,
    /// `KAFKA_LINGER_MS`: how long the producer waits to fill a batch.
    pub linger_ms: u64,
}

/// [`ProducerConfig::linger_ms`] unless configured: requests of a few events at a steady rate
/// reach the broker in fuller batches, which cost it less per record (docs/performance.md,
/// "The broker's batches").
const LINGER_MS: u64 = 20;

impl ProducerConfig {
    pub fn from_source(env: &impl Source, topic: String) -> Result<Self, ConfigError> {
        Ok(Self {
            topic,
            delivery_timeout_ms: env.parse_or("KAFKA_DELIVERY_TIMEOUT_MS", 5_000)?,
            queue_max_messages: env.parse_or("KAFKA_QUEUE_MAX_MESSAGES", 100_000)?,
            linger_ms: env.parse_or("KAFKA_LINGER_MS", LINGER_MS)?,
        })
    }

    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            delivery_timeout_ms: 5_000,
            queue_max_messages: 100_000,
            linger_ms: LINGER_MS,
        }
    }
}

/// The librdkafka settings of [`KafkaSink`]'s producer: `acks=all`, idempotence, the delivery
/// timeout, queue bound and linger of `config`. Public so that a benchmark's plain producer
/// writes with exactly the settings ingest does.
pub fn producer_client_config(kafka: &KafkaConfig, config: &ProducerConfig) -> ClientConfig {
    let mut client = kafka.client_config();
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", config.delivery_timeout_ms.to_string())
        // A request to a dead broker must fail within the delivery timeout, not retry on its
        // own schedule.
        .set(
            "request.timeout.ms",
            config.delivery_timeout_ms.min(30_000).to_string(),
        )
        .set(
            "queue.buffering.max.messages",
            config.queue_max_messages.to_string(),
        )
        .set("linger.ms", config.linger_ms.to_string())
        // The Java client's partitioner, so keys land where other Kafka clients put them.
        .set("partitioner", "murmur2_random");
    client
}

/// Produces to Kafka with `acks=all` and idempotence, and reports success only after the
/// broker acknowledged.
///
/// After a delivery failure the producer instance is replaced, not reused. librdkafka answers
/// a timed-out idempotent batch by bumping the producer epoch (and some idempotence errors are
/// fatal to the instance); Tansu 0.6.0 panics on a produce with a bumped epoch, which leaves it
/// unable to store anything. A fresh instance gets a fresh producer id, works on every broker,
/// and costs nothing in correctness: the failed events were answered 503, and their retries
/// carry the same event ids.
pub struct KafkaSink {
    kafka: KafkaConfig,
    config: ProducerConfig,
    current: RwLock<Arc<QuietProducer>>,
    announcer: std::sync::OnceLock<Arc<Announcer>>,
}

impl KafkaSink {
    pub fn new(kafka: &KafkaConfig, config: &ProducerConfig) -> Result<Self, KafkaError> {
        let producer = Self::create(kafka, config)?;
        Ok(Self {
            kafka: kafka.clone(),
            config: config.clone(),
            current: RwLock::new(Arc::new(producer)),
            announcer: std::sync::OnceLock::new(),
        })
    }

    fn create(kafka: &KafkaConfig, config: &ProducerConfig) -> Result<QuietProducer, KafkaError> {
        QuietProducer::new(&producer_client_config(kafka, config))
    }

    fn producer(&self) -> Arc<QuietProducer> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Swaps in a new producer if `failed` is still the current one (concurrent failures
    /// replace it once). `failed` goes when the requests still awaiting it let go of it; its
    /// polling thread then purges what it holds.
    fn replace(&self, failed: &Arc<QuietProducer>) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&current, failed) {
            return;
        }
        match Self::create(&self.kafka, &self.config) {
            Ok(fresh) => {
                tracing::warn!(topic = %self.config.topic, "delivery failed; replacing the producer");
                *current = Arc::new(fresh);
            }
            Err(error) => tracing::error!(%error, "cannot create a replacement producer"),
        }
    }

    /// Waits up to `timeout` for queued records to be delivered (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer().flush(timeout) {
            tracing::warn!(%error, "producer flush incomplete");
        }
    }
}

fn classify(error: &KafkaError) -> SinkError {
    use RDKafkaErrorCode::*;
    match error.rdkafka_error_code() {
        Some(MessageSizeTooLarge | InvalidMessageSize | InvalidMessage | InvalidRecord) => {
            SinkError::Rejected(error.to_string())
        }
        _ => SinkError::Unavailable(error.to_string()),
    }
}

/// A full local queue is backpressure, not a broken producer.
fn is_queue_full(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
}

impl EventSink for KafkaSink {
    fn send(&self, records: Vec<Record>) -> BoxFuture<'_, Vec<Result<(), SinkError>>> {
        Box::pin(async move {
            let producer = self.producer();
            // Enqueue everything first, so librdkafka batches the records, then await the
            // delivery reports together.
            let deliveries: Vec<_> = records
                .iter()
                .map(|r| {
                    let headers = (!r.headers.is_empty()).then(|| {
                        r.headers
                            .iter()
                            .fold(OwnedHeaders::new(), |h, (key, value)| {
                                h.insert(Header {
                                    key,
                                    value: Some(value.as_str()),
                                })
                            })
                    });
                    producer.send(&self.config.topic, &r.key, &r.value, headers)
                })
                .collect();
            // librdkafka can hold a request in flight to a vanished broker past
            // message.timeout.ms; the answer must not wait for that. A record that is delivered
            // after we gave up was answered 503, and its retry carries the same event id.
            let bound = Duration::from_millis(self.config.delivery_timeout_ms + 1_000);
            let outcomes: Vec<Result<Delivered, KafkaError>> =
                join_all(deliveries.into_iter().map(|d| async move {
                    match tokio::time::timeout(bound, d?).await {
                        Ok(Ok(delivered)) => delivered,
                        Ok(Err(_canceled)) => Err(KafkaError::Canceled),
                        Err(_elapsed) => Err(KafkaError::MessageProduction(
                            RDKafkaErrorCode::MessageTimedOut,
                        )),
                    }
                }))
                .await;
            if let Some(announcer) = self.announcer.get() {
                announcer.delivered(outcomes.iter().flatten().map(|d| d.partition));
            }
            let broken = outcomes.iter().any(|o| {
                matches!(o, Err(e) if !is_queue_full(e) && matches!(classify(e), SinkError::Unavailable(_)))
            });
            if broken {
                self.replace(&producer);
            }
            outcomes
                .into_iter()
                .map(|o| o.map(|_| ()).map_err(|e| classify(&e)))
                .collect()
        })
    }

    fn queue_depth(&self) -> Option<i64> {
        Some(i64::from(self.producer().in_flight_count()))
    }

    fn announce_through(&self, announcer: Arc<Announcer>) {
        let _ = self.announcer.set(announcer);
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let producer = self.producer();
            let topic = self.config.topic.clone();
            let timeout = Duration::from_millis(self.config.delivery_timeout_ms.min(5_000));
            // fetch_metadata blocks the calling thread.
            tokio::task::spawn_blocking(move || {
                let metadata = producer
                    .client()
                    .fetch_metadata(Some(&topic), timeout)
                    .map_err(|e| SinkError::Unavailable(e.to_string()))?;
                match metadata.topics().first() {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                    _ => Err(SinkError::Unavailable(format!("topic {topic} not found"))),
                }
            })
            .await
            .unwrap_or_else(|e| Err(SinkError::Unavailable(e.to_string())))
        })
    }
}

/// A sink that acknowledges every record at once and keeps only a count: ingest with it
/// (`INGEST_SINK=memory`) measures ingest's own cost per event, without a broker. Nothing is
/// stored, so it is for benchmarks only.
#[derive(Default)]
pub struct CountingSink {
    records: std::sync::atomic::AtomicU64,
}

impl CountingSink {
    pub fn records(&self) -> u64 {
        self.records.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl EventSink for CountingSink {
    fn send(&self, records: Vec<Record>) -> BoxFuture<'_, Vec<Result<(), SinkError>>> {
        self.records
            .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Box::pin(std::future::ready(vec![Ok(()); records.len()]))
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The in-memory twin of [`KafkaSink`] for tests: keeps what it was given, and can be told
/// to fail like an unreachable broker.
#[derive(Clone, Default)]
pub struct MemorySink {
    inner: Arc<Mutex<MemorySinkState>>,
}

#[derive(Default)]
struct MemorySinkState {
    records: Vec<Record>,
    unavailable: bool,
}

impl MemorySink {
    pub fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemorySinkState> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl EventSink for MemorySink {
    fn send(&self, records: Vec<Record>) -> BoxFuture<'_, Vec<Result<(), SinkError>>> {
        let mut state = self.lock();
        let results = if state.unavailable {
            records
                .iter()
                .map(|_| Err(SinkError::Unavailable("memory sink is down".into())))
                .collect()
        } else {
            let n = records.len();
            state.records.extend(records);
            vec![Ok(()); n]
        };
        Box::pin(std::future::ready(results))
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        let down = self.lock().unavailable;
        Box::pin(std::future::ready(if down {
            Err(SinkError::Unavailable("memory sink is down".into()))
        } else {
            Ok(())
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rdkafka::producer::BaseProducer;

    use super::*;

    fn secured() -> KafkaConfig {
        KafkaConfig::from_source(&HashMap::from([
            ("KAFKA_BROKERS", "kafka-0.example:9093"),
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("KAFKA_SASL_USERNAME", "colloquy"),
            ("KAFKA_SASL_PASSWORD", "hunter2"),
            (
                "KAFKA_PROPERTIES",
                "client.id=colloquy-test,sasl.mechanism=SCRAM-SHA-256",
            ),
        ]))
        .unwrap()
    }

    #[test]
    fn security_variables_become_librdkafka_settings_and_kafka_properties_win() {
        let config = secured();
        let get = |key: &str| {
            config
                .properties
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(get("sasl.username"), Some("colloquy"));
        assert_eq!(get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(get("client.id"), Some("colloquy-test"));
        assert_eq!(
            get("ssl.ca.location"),
            None,
            "unset stays librdkafka's default"
        );
    }

    /// librdkafka checks its settings when a client is created: TLS and SCRAM are refused
    /// there by a build without OpenSSL.
    #[test]
    fn a_client_for_a_tls_and_scram_cluster_can_be_created() {
        let client = secured().client_config().create::<BaseProducer>();
        assert!(client.is_ok(), "{:?}", client.err());
        let mut tls_only = KafkaConfig::new("kafka-0.example:9093");
        tls_only
            .properties
            .push(("security.protocol".into(), "ssl".into()));
        let client = tls_only.client_config().create::<BaseProducer>();
        assert!(client.is_ok(), "{:?}", client.err());
    }

    #[test]
    fn the_password_is_never_printed() {
        let printed = format!("{:?}", secured());
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("SCRAM-SHA-512"), "{printed}");
    }
}
