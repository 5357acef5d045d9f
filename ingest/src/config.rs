//! Ingest configuration, from the environment (docs/configuration.md lists every variable).

use std::net::SocketAddr;

use runtime::config::{ConfigError, Source};
use runtime::kafka::{KafkaConfig, ProducerConfig};
use runtime::postgres::PostgresConfig;

use runtime::client_ip::TrustedProxies;

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// `INGEST_ADDR`.
    pub addr: SocketAddr,
    /// `INGEST_METRICS_ADDR`: where `GET /metrics` is served, apart from the public port, so
    /// that only what can reach this address (Prometheus) reads them; `off` for nowhere.
    pub metrics_addr: Option<SocketAddr>,
    pub kafka: KafkaConfig,
    /// Topic from `KAFKA_TOPIC`, plus the producer's timeouts and queue bound.
    pub producer: ProducerConfig,
    /// `INGEST_WEBSITES`: bootstrap websites as `website_id=write_key` pairs, comma-separated;
    /// `none` for only those created through the admin API. The default, the demo website, is
    /// a laptop's: beyond loopback it is refused unless `COLLOQUY_DEV_STACK` says this is a dev
    /// stack.
    pub websites: Vec<(String, String)>,
    /// `INGEST_ALLOWED_ORIGINS`: per-website browser origins, `website_id=origin|origin`,
    /// comma-separated. A website not listed accepts any origin.
    pub allowed_origins: Vec<(String, Vec<String>)>,
    /// `INGEST_TRUSTED_PROXIES`: IPs or networks whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `DATABASE_URL`, when set: where the websites created through the admin API are read from.
    pub websites_database: Option<PostgresConfig>,
    /// `INGEST_WEBSITES_REFRESH_MS`: how often they are reloaded.
    pub websites_refresh_ms: u64,
    /// `INGEST_ANONYMIZE_IP`: websites whose visitors' addresses are stored anonymised
    /// (comma-separated ids, `*` for all) unless an admin set it otherwise through the API.
    pub anonymize_ip: Vec<String>,
    /// `INGEST_COUNTRY_DB`: the MMDB file visitors' countries are looked up in; none when
    /// unset (events then carry no country).
    pub country_db: Option<std::path::PathBuf>,
    /// `INGEST_HONOR_DNT`: `DNT: 1` / `Sec-GPC: 1` opt a request's events out of tracking.
    pub honor_opt_out: bool,
    /// `INGEST_SINK`: `kafka` (the default) or `memory`, which acknowledges every event at
    /// once and stores nothing: for measuring ingest's own overhead, never for real traffic.
    pub sink: SinkKind,
    pub limits: Limits,
}

/// Where accepted events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Kafka,
    Memory,
}

impl std::str::FromStr for SinkKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kafka" => Ok(Self::Kafka),
            "memory" => Ok(Self::Memory),
            other => Err(format!("{other:?} is neither kafka nor memory")),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // Tests start many ingests: none binds a second port unless it asks.
            metrics_addr: None,
            kafka: KafkaConfig::new("127.0.0.1:9092"),
            producer: ProducerConfig::new("chat-events"),
            websites: vec![("demo".into(), DEMO_WRITE_KEY.into())],
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            websites_database: None,
            websites_refresh_ms: 2_000,
            anonymize_ip: Vec::new(),
            country_db: None,
            honor_opt_out: true,
            sink: SinkKind::Kafka,
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// `INGEST_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `INGEST_MAX_EVENT_BYTES`: one event, as stored.
    pub max_event_bytes: usize,
    /// `INGEST_MAX_BATCH_EVENTS`.
    pub max_batch_events: usize,
    /// `INGEST_RETRY_AFTER_S`: what a 503 tells clients to wait.
    pub retry_after_s: u32,
    /// `INGEST_RATE_LIMIT_EVENTS_PER_S`: per write key (a public key must not let anyone grow
    /// the topic and the key store without bound); 0 for none.
    pub rate_limit_events_per_s: f64,
    /// `INGEST_RATE_LIMIT_BURST`: events a write key may send at once.
    pub rate_limit_burst: u32,
    /// `INGEST_KEY_LOOKUPS_PER_S`: write keys not known yet looked up in Postgres, a second,
    /// for the whole process; 0: none (a new key works from the next reload).
    pub key_lookups_per_s: f64,
    /// `INGEST_MAX_EVENT_AGE_S`: how far before its receipt a client may date an event; an
    /// older time is not believed, and the receive time is stored instead.
    pub max_event_age: chrono::Duration,
    /// `INGEST_SEGMENT_MAX_MESSAGE_BYTES`: one Segment message, and the body of a single call
    /// (`/v1/track`, …), as the Segment API limits them (32 KB).
    pub segment_max_message_bytes: usize,
    /// `INGEST_SEGMENT_MAX_BATCH_BYTES`: a `/v1/batch` body, decompressed (500 KB).
    pub segment_max_batch_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_event_bytes: 32 * 1024,
            max_batch_events: 500,
            retry_after_s: 1,
            rate_limit_events_per_s: 200.0,
            rate_limit_burst: 2_000,
            key_lookups_per_s: 10.0,
            max_event_age: chrono::Duration::days(7),
            segment_max_message_bytes: 32 * 1024,
            segment_max_batch_bytes: 500 * 1024,
        }
    }
}

impl IngestConfig {
    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let defaults = Limits::default();
        let addr = env.parse_or("INGEST_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        Ok(Self {
            addr,
            metrics_addr: env.addr_or_off(
                "INGEST_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8083)),
            )?,
            kafka: KafkaConfig::from_source(env)?,
            producer: ProducerConfig::from_source(
                env,
                env.string_or("KAFKA_TOPIC", "chat-events"),
            )?,
            websites: websites(env, addr)?,
            allowed_origins: parse_origins(&env.string_or("INGEST_ALLOWED_ORIGINS", ""))?,
            trusted_proxies: env.parse_or("INGEST_TRUSTED_PROXIES", TrustedProxies::default())?,
            websites_database: match env.get("DATABASE_URL").filter(|u| !u.is_empty()) {
                Some(_) => Some(PostgresConfig::from_source(env, 2)?),
                None => None,
            },
            websites_refresh_ms: env.parse_or("INGEST_WEBSITES_REFRESH_MS", 2_000)?,
            anonymize_ip: env
                .string_or("INGEST_ANONYMIZE_IP", "")
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
            country_db: env
                .get("INGEST_COUNTRY_DB")
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from),
            honor_opt_out: env.parse_or("INGEST_HONOR_DNT", true)?,
            sink: env.parse_or("INGEST_SINK", SinkKind::Kafka)?,
            limits: Limits {
                max_body_bytes: env.parse_or("INGEST_MAX_BODY_BYTES", defaults.max_body_bytes)?,
                max_event_bytes: env
                    .parse_or("INGEST_MAX_EVENT_BYTES", defaults.max_event_bytes)?,
                max_batch_events: env
                    .parse_or("INGEST_MAX_BATCH_EVENTS", defaults.max_batch_events)?,
                retry_after_s: env.parse_or("INGEST_RETRY_AFTER_S", defaults.retry_after_s)?,
                rate_limit_events_per_s: env.parse_or(
                    "INGEST_RATE_LIMIT_EVENTS_PER_S",
                    defaults.rate_limit_events_per_s,
                )?,
                rate_limit_burst: env
                    .parse_or("INGEST_RATE_LIMIT_BURST", defaults.rate_limit_burst)?,
                key_lookups_per_s: env
                    .parse_or("INGEST_KEY_LOOKUPS_PER_S", defaults.key_lookups_per_s)?,
                max_event_age: max_event_age(env, defaults.max_event_age)?,
                segment_max_message_bytes: env.parse_or(
                    "INGEST_SEGMENT_MAX_MESSAGE_BYTES",
                    defaults.segment_max_message_bytes,
                )?,
                segment_max_batch_bytes: env.parse_or(
                    "INGEST_SEGMENT_MAX_BATCH_BYTES",
                    defaults.segment_max_batch_bytes,
                )?,
            },
        })
    }
}

/// `INGEST_MAX_EVENT_AGE_S`, in seconds.
fn max_event_age(
    env: &impl Source,
    default: chrono::Duration,
) -> Result<chrono::Duration, ConfigError> {
    let seconds: u32 = env.parse_or("INGEST_MAX_EVENT_AGE_S", default.num_seconds() as u32)?;
    Ok(chrono::Duration::seconds(seconds.into()))
}

/// The demo website's write key: what `deploy/dev` and the README use on a laptop.
pub const DEMO_WRITE_KEY: &str = "demo-write-key";

/// `INGEST_WEBSITES`, checked for where ingest is bound: beyond loopback, a write key anyone
/// can read in the README would let anyone write into the demo website's data, so it is
/// refused unless `COLLOQUY_DEV_STACK=true` says this is a development stack.
fn websites(env: &impl Source, addr: SocketAddr) -> Result<Vec<(String, String)>, ConfigError> {
    let raw = env.string_or("INGEST_WEBSITES", &format!("demo={DEMO_WRITE_KEY}"));
    let websites = if raw.trim() == "none" {
        Vec::new()
    } else {
        parse_websites(&raw)?
    };
    let dev_stack: bool = env.parse_or("COLLOQUY_DEV_STACK", false)?;
    if !addr.ip().is_loopback() && !dev_stack && websites.iter().any(|(_, k)| k == DEMO_WRITE_KEY) {
        return Err(ConfigError::Invalid {
            name: "INGEST_WEBSITES".into(),
            message: format!(
                "the demo write key `{DEMO_WRITE_KEY}` is a laptop default, and ingest is bound \
                 to {addr}, beyond loopback: set INGEST_WEBSITES to your websites' own keys \
                 (`shop=$(openssl rand -hex 16)`), or to `none` and create websites through \
                 query-api (POST /v1/websites); on a development stack, COLLOQUY_DEV_STACK=true \
                 allows it"
            ),
        });
    }
    Ok(websites)
}

fn parse_websites(raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(w, k)| (w.trim().to_owned(), k.trim().to_owned()))
                .filter(|(w, k)| !w.is_empty() && !k.is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    name: "INGEST_WEBSITES".into(),
                    message: format!("{pair:?} is not website_id=write_key"),
                })
        })
        .collect()
}

fn parse_origins(raw: &str) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (website, origins) = pair.split_once('=').ok_or_else(|| ConfigError::Invalid {
                name: "INGEST_ALLOWED_ORIGINS".into(),
                message: format!("{pair:?} is not website_id=origin|origin"),
            })?;
            let origins = origins
                .split('|')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty());
            Ok((website.trim().to_owned(), origins.collect()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A write key is public: left unconfigured, what it may send is bounded in rate, and in
    /// how far back it may date an event.
    #[test]
    fn by_default_a_write_key_is_rate_limited_and_cannot_backdate_far() {
        let config = IngestConfig::from_source(&HashMap::<&str, &str>::new()).unwrap();
        assert!(config.limits.rate_limit_events_per_s > 0.0);
        assert!(config.limits.rate_limit_burst > 0);
        assert_eq!(config.limits.max_event_age, chrono::Duration::days(7));
        let tuned = HashMap::from([
            ("INGEST_RATE_LIMIT_EVENTS_PER_S", "0"),
            ("INGEST_MAX_EVENT_AGE_S", "3600"),
        ]);
        let config = IngestConfig::from_source(&tuned).unwrap();
        assert_eq!(config.limits.rate_limit_events_per_s, 0.0);
        assert_eq!(config.limits.max_event_age, chrono::Duration::hours(1));
    }

    #[test]
    fn websites_are_read_as_id_and_key_pairs() {
        let env = HashMap::from([("INGEST_WEBSITES", "demo=k1, shop=k2")]);
        let config = IngestConfig::from_source(&env).unwrap();
        assert_eq!(
            config.websites,
            vec![("demo".into(), "k1".into()), ("shop".into(), "k2".into())]
        );
    }

    #[test]
    fn origins_and_trusted_proxies_are_read() {
        let env = HashMap::from([
            (
                "INGEST_ALLOWED_ORIGINS",
                "shop=https://shop.example/|https://www.shop.example",
            ),
            ("INGEST_TRUSTED_PROXIES", "10.0.0.0/8"),
        ]);
        let config = IngestConfig::from_source(&env).unwrap();
        assert_eq!(
            config.allowed_origins,
            vec![(
                "shop".into(),
                vec![
                    "https://shop.example".into(),
                    "https://www.shop.example".into()
                ]
            )]
        );
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn the_demo_key_is_refused_beyond_loopback_unless_this_is_a_dev_stack() {
        let config = |pairs: &[(&'static str, &'static str)]| {
            IngestConfig::from_source(&HashMap::from_iter(pairs.iter().copied()))
        };
        let err = config(&[("INGEST_ADDR", "0.0.0.0:8080")]).unwrap_err();
        assert!(err.to_string().starts_with("INGEST_WEBSITES"), "{err}");
        assert!(err.to_string().contains("COLLOQUY_DEV_STACK"), "{err}");
        let err = config(&[
            ("INGEST_ADDR", "10.0.0.5:8080"),
            ("INGEST_WEBSITES", "shop=demo-write-key"),
        ]);
        assert!(err.is_err());
        // Loopback, a dev stack, real keys, or none at all.
        assert!(config(&[]).is_ok());
        assert!(
            config(&[
                ("INGEST_ADDR", "0.0.0.0:8080"),
                ("COLLOQUY_DEV_STACK", "true")
            ])
            .is_ok()
        );
        let real = config(&[
            ("INGEST_ADDR", "0.0.0.0:8080"),
            ("INGEST_WEBSITES", "shop=k-81c2"),
        ]);
        assert_eq!(
            real.unwrap().websites,
            [("shop".to_owned(), "k-81c2".to_owned())]
        );
        let none = config(&[("INGEST_ADDR", "0.0.0.0:8080"), ("INGEST_WEBSITES", "none")]);
        assert!(none.unwrap().websites.is_empty());
    }

    #[test]
    fn a_website_without_a_key_is_a_config_error() {
        let env = HashMap::from([("INGEST_WEBSITES", "demo")]);
        let err = IngestConfig::from_source(&env).unwrap_err();
        assert!(err.to_string().starts_with("INGEST_WEBSITES"), "{err}");
    }
}
