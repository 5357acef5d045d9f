//! Query API configuration, from the environment (see the README for every variable).

use std::net::SocketAddr;
use std::time::Duration;

use runtime::config::{ConfigError, Source};
use runtime::kafka::{KafkaConfig, ProducerConfig};
use runtime::postgres::PostgresConfig;

use crate::mail::MailConfig;

#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    /// `QUERY_API_ADDR`.
    pub addr: SocketAddr,
    pub postgres: PostgresConfig,
    /// `ADMIN_TOKEN`: the bootstrap admin token; it sees every website.
    pub admin_token: String,
    /// Where admin actions go: `KAFKA_BROKERS`, `KAFKA_TOPIC` and the producer settings ingest
    /// uses too.
    pub kafka: KafkaConfig,
    pub producer: ProducerConfig,
    /// `ADMIN_WAIT_MS`: how long an admin action waits for the projector to apply it before
    /// answering 202 instead of the new state.
    pub admin_wait: Duration,
    /// `RETENTION_INTERVAL_S`: how often the retention job runs (3600; 0 for never, when
    /// another instance runs it).
    pub retention_interval: Option<Duration>,
    /// The SMTP server weekly reports go through (`EMAIL_*`); none when `EMAIL_HOST` is unset.
    pub email: Option<MailConfig>,
    /// `REPORT_INTERVAL_S`: how often the report job looks for reports owed (60; 0 for never,
    /// when another instance runs it — a claim keeps two from sending the same report anyway).
    pub report_interval: Option<Duration>,
}

impl QueryApiConfig {
    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let admin_token = env.string_or("ADMIN_TOKEN", "dev-admin-token");
        Ok(Self {
            addr: env.parse_or("QUERY_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
            postgres: PostgresConfig::from_source(env, 8)?,
            admin_token,
            kafka: KafkaConfig::from_source(env)?,
            producer: ProducerConfig::from_source(
                env,
                env.string_or("KAFKA_TOPIC", "chat-events"),
            )?,
            admin_wait: Duration::from_millis(env.parse_or("ADMIN_WAIT_MS", 5_000)?),
            retention_interval: interval(env, "RETENTION_INTERVAL_S", 3_600)?,
            email: MailConfig::from_source(env)?,
            report_interval: interval(env, "REPORT_INTERVAL_S", 60)?,
        })
    }
}

/// A job's period in seconds from `name`, `default` when unset; 0 means the job does not run.
fn interval(env: &impl Source, name: &str, default: u64) -> Result<Option<Duration>, ConfigError> {
    Ok(match env.parse_or(name, default)? {
        0 => None,
        s => Some(Duration::from_secs(s)),
    })
}
