//! Query API configuration, from the environment (docs/configuration.md lists every variable).

use std::net::SocketAddr;
use std::time::Duration;

use runtime::client_ip::TrustedProxies;
use runtime::config::{ConfigError, Source};
use runtime::kafka::{KafkaConfig, ProducerConfig};
use runtime::postgres::PostgresConfig;
use runtime::proof::AdminKeys;

use crate::mail::MailConfig;

#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    /// `QUERY_API_ADDR`.
    pub addr: SocketAddr,
    /// `QUERY_API_METRICS_ADDR`: where `GET /metrics` is served, apart from `QUERY_API_ADDR`
    /// (`127.0.0.1:8084`; `off`: not served).
    pub metrics_addr: Option<SocketAddr>,
    pub postgres: PostgresConfig,
    /// `ADMIN_TOKEN`: the bootstrap admin token; it sees every website. `dev-admin-token` when
    /// unset or empty, on a loopback address only: bound to any other, query-api refuses to start
    /// without a token of at least [`MIN_ADMIN_TOKEN_CHARS`] characters.
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
    /// `AUTH_FAILURES_PER_MINUTE`: wrong admin tokens a client address may send a minute before
    /// it is answered 429 for the rest of that minute (20; 0 for no limit).
    pub auth_failures_per_minute: u32,
    /// `QUERY_API_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client, so that
    /// behind a load balancer each client has its own allowance of wrong tokens.
    pub trusted_proxies: TrustedProxies,
    /// `ADMIN_EVENT_KEYS`: what admin events are signed with, so the projector knows them
    /// from records anyone else produced ([`runtime::proof`]).
    pub admin_event_keys: AdminKeys,
    /// How much long-lived work may run at once ([`crate::limits`]).
    pub limits: Limits,
    /// `REPORT_SENDS_PER_DAY`: reports one website may be sent in 24 hours, scheduled ones
    /// included, past which `POST /reports/weekly` is refused (3).
    pub report_sends_per_day: u32,
    /// `REPORT_INTERVAL_S`: how often the report job looks for reports owed (60; 0 for never,
    /// when another instance runs it — a claim keeps two from sending the same report anyway).
    pub report_interval: Option<Duration>,
    /// Outgoing webhooks (`WEBHOOK_*`).
    pub webhooks: crate::webhooks::WebhookConfig,
}

impl QueryApiConfig {
    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let addr = env.parse_or("QUERY_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?;
        let admin_token = admin_token(env, addr)?;
        let postgres = PostgresConfig::from_source(env, 8)?;
        let limits = Limits::from_source(env)?;
        if limits.exports_max >= postgres.pool_size as usize {
            return Err(ConfigError::Invalid {
                name: "EXPORTS_MAX".into(),
                message: format!(
                    "{} exports could hold all {} pooled connections and starve every other \
                     read: keep it below DATABASE_POOL_SIZE",
                    limits.exports_max, postgres.pool_size
                ),
            });
        }
        Ok(Self {
            admin_event_keys: AdminKeys::from_source(env, addr.ip())?,
            addr,
            metrics_addr: env.addr_or_off(
                "QUERY_API_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8084)),
            )?,
            postgres,
            limits,
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
            report_sends_per_day: env.parse_or("REPORT_SENDS_PER_DAY", 3)?,
            auth_failures_per_minute: env.parse_or("AUTH_FAILURES_PER_MINUTE", 20)?,
            trusted_proxies: env
                .parse_or("QUERY_API_TRUSTED_PROXIES", TrustedProxies::default())?,
            webhooks: crate::webhooks::WebhookConfig::from_source(env)?,
        })
    }
}

/// Bounds on exports and live streams (docs/configuration.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `EXPORTS_PER_TOKEN`: exports one token may run at once.
    pub exports_per_token: usize,
    /// `EXPORTS_MAX`: exports running at once in total; each holds a pooled connection, so it
    /// must be less than `DATABASE_POOL_SIZE`.
    pub exports_max: usize,
    /// `EXPORT_STALL_S`: how long an export waits for its client to take the next chunk before
    /// it is ended and its connection returned.
    pub export_stall: Duration,
    /// `STREAMS_PER_TOKEN`: `GET /v1/stream` connections one token may hold open.
    pub streams_per_token: usize,
    /// `STREAMS_MAX`: stream connections open at once in total.
    pub streams_max: usize,
    /// `BOT_QUALITY_QUESTIONS`: the most visitor questions `GET /v1/bot-quality` groups (the
    /// newest of the range); grouping costs about 0.1 ms per question.
    pub bot_quality_questions: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            exports_per_token: 1,
            exports_max: 3,
            export_stall: Duration::from_secs(30),
            streams_per_token: 10,
            streams_max: 1_000,
            bot_quality_questions: 5_000,
        }
    }
}

impl Limits {
    fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            exports_per_token: env.parse_or("EXPORTS_PER_TOKEN", default.exports_per_token)?,
            exports_max: env.parse_or("EXPORTS_MAX", default.exports_max)?,
            export_stall: Duration::from_secs(
                env.parse_or("EXPORT_STALL_S", default.export_stall.as_secs())?,
            ),
            streams_per_token: env.parse_or("STREAMS_PER_TOKEN", default.streams_per_token)?,
            streams_max: env.parse_or("STREAMS_MAX", default.streams_max)?,
            bot_quality_questions: env
                .parse_or("BOT_QUALITY_QUESTIONS", default.bot_quality_questions)?,
        })
    }
}

/// The development admin token, for a laptop.
pub const DEV_ADMIN_TOKEN: &str = "dev-admin-token";

/// The shortest admin token query-api accepts beyond loopback: as many characters as a random
/// token of 128 bits has in hex.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// `ADMIN_TOKEN`, checked for where query-api is bound: anywhere but loopback, the token that
/// sees every website must be one nobody can guess, so an unset, empty, development or short
/// one is refused rather than served.
fn admin_token(env: &impl Source, addr: SocketAddr) -> Result<String, ConfigError> {
    let token = env.string_or("ADMIN_TOKEN", DEV_ADMIN_TOKEN);
    if addr.ip().is_loopback() {
        return Ok(token);
    }
    let refused = |why: &str| ConfigError::Invalid {
        name: "ADMIN_TOKEN".into(),
        message: format!(
            "{why}: query-api is bound to {addr}, beyond loopback; set a random token of at least \
             {MIN_ADMIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)"
        ),
    };
    if token == DEV_ADMIN_TOKEN {
        Err(refused("unset, empty or the development token"))
    } else if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        Err(refused("too short"))
    } else {
        Ok(token)
    }
}

/// A job's period in seconds from `name`, `default` when unset; 0 means the job does not run.
fn interval(env: &impl Source, name: &str, default: u64) -> Result<Option<Duration>, ConfigError> {
    Ok(match env.parse_or(name, default)? {
        0 => None,
        s => Some(Duration::from_secs(s)),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn token(addr: &str, token: Option<&str>) -> Result<String, ConfigError> {
        let mut env = HashMap::from([
            ("QUERY_API_ADDR", addr),
            ("ADMIN_EVENT_KEYS", "k1:0123456789abcdef0123456789abcdef"),
        ]);
        if let Some(t) = token {
            env.insert("ADMIN_TOKEN", t);
        }
        QueryApiConfig::from_source(&env).map(|c| c.admin_token)
    }

    #[test]
    fn beyond_loopback_the_admin_token_must_be_long_and_not_the_development_one() {
        let strong = "0123456789abcdef0123456789abcdef";
        for addr in ["0.0.0.0:8081", "[::]:8081", "192.0.2.7:8081"] {
            for weak in [None, Some(""), Some(DEV_ADMIN_TOKEN), Some("change-me")] {
                let refused = token(addr, weak).unwrap_err().to_string();
                assert!(refused.starts_with("ADMIN_TOKEN: "), "{refused}");
                assert!(
                    !refused.contains("change-me"),
                    "the token is not echoed: {refused}"
                );
            }
            assert_eq!(token(addr, Some(strong)).unwrap(), strong);
        }
        for addr in ["127.0.0.1:8081", "[::1]:8081"] {
            assert_eq!(token(addr, None).unwrap(), DEV_ADMIN_TOKEN);
            assert_eq!(token(addr, Some("")).unwrap(), DEV_ADMIN_TOKEN);
            assert_eq!(token(addr, Some("short")).unwrap(), "short");
        }
    }

    #[test]
    fn exports_must_leave_pooled_connections_for_other_reads() {
        let env =
            |max: &'static str| HashMap::from([("EXPORTS_MAX", max), ("DATABASE_POOL_SIZE", "8")]);
        let refused = QueryApiConfig::from_source(&env("8"))
            .unwrap_err()
            .to_string();
        assert!(refused.starts_with("EXPORTS_MAX: "), "{refused}");
        let config = QueryApiConfig::from_source(&env("7")).unwrap();
        assert_eq!(config.limits.exports_max, 7);
        assert_eq!(
            config.limits.exports_per_token,
            Limits::default().exports_per_token
        );
    }
}
