//! `ingest`: the HTTP edge of Colloquy. It parses and validates events, enriches them with
//! what only the server knows (tenant, time, client IP), produces them to the `chat-events`
//! topic and answers 2xx only once the broker acknowledged every accepted event.
//!
//! # Layout
//! - [`config`]: [`IngestConfig`], read from the environment.
//! - [`keys`]: write keys, where requests carry them, and the websites they belong to.
//! - [`decode`]: request bodies into events (content types, gzip, batch shapes).
//! - [`device`]: device type from the user agent.
//! - [`enrich`]: turns a client's [`schemas::IncomingEvent`] into a stored [`schemas::Event`].
//! - [`metrics`]: Prometheus metrics and their documented names.
//! - [`rate_limit`]: the per-write-key rate limit.
//! - [`routes`]: the route table; one module per resource.
//! - [`websites`]: reloads the write keys of websites created through the admin API, and looks
//!   up a key not known yet.
//! - [`error`]: [`error::ApiError`], the one error type every handler answers with.

pub mod config;
pub mod countries;
pub mod decode;
pub mod device;
pub mod enrich;
pub mod error;
pub mod keys;
pub mod metrics;
pub mod privacy;
pub mod rate_limit;
pub mod routes;
pub mod segment;
pub mod websites;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use runtime::http::HttpServer;
use runtime::kafka::EventSink;
use runtime::subject_keys::SubjectKeys;

pub use config::IngestConfig;
pub use keys::WriteKeys;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub sink: Arc<dyn EventSink>,
    pub keys: Arc<WriteKeys>,
    pub trusted_proxies: Arc<runtime::client_ip::TrustedProxies>,
    pub limits: config::Limits,
    pub metrics: Arc<metrics::IngestMetrics>,
    pub rate_limit: Arc<rate_limit::RateLimiter>,
    pub privacy: Arc<privacy::PrivacySettings>,
    /// `INGEST_HONOR_DNT`: Do Not Track and Global Privacy Control headers opt the request's
    /// events out of tracking.
    pub honor_opt_out: bool,
    pub salts: Arc<privacy::DailySalts>,
    /// `INGEST_COUNTRY_DB`, read again when the file changes.
    pub countries: Arc<countries::Countries>,
    /// Where the keys that seal personal data in the topic come from; `None` without a
    /// database, when events are written unsealed (a warning at start says so).
    pub subject_keys: Option<Arc<SubjectKeys>>,
    /// Looks up write keys not known yet; `None` without a database or with
    /// `INGEST_KEY_LOOKUPS_PER_S` at 0.
    pub key_lookup: Option<Arc<websites::KeyLookup>>,
}

/// How long ingest waits at start for what it loads from Postgres before it serves (the
/// created websites, the shared visitor salts); past it, it starts without them.
pub(crate) const FIRST_LOAD_WAIT: Duration = Duration::from_secs(2);

/// How often ingest looks for a newer country database file.
const COUNTRY_DB_CHECK: Duration = Duration::from_secs(60);

/// The router, without a socket, so tests can call it directly.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Binds the ingest server; run it with [`HttpServer::run_until_stopped`]. Its metrics are
/// served on their own listener for as long as the process runs.
pub async fn build(config: &IngestConfig, sink: Arc<dyn EventSink>) -> std::io::Result<HttpServer> {
    let (api, metrics) = build_parts(config, sink).await?;
    if let Some(metrics) = metrics {
        tracing::info!(addr = %metrics.local_addr(), "ingest metrics listening");
        tokio::spawn(metrics.run_until_stopped(std::future::pending()));
    }
    Ok(api)
}

/// The public server and the metrics server (`INGEST_METRICS_ADDR`, unless off), bound, not
/// running.
pub async fn build_parts(
    config: &IngestConfig,
    sink: Arc<dyn EventSink>,
) -> std::io::Result<(HttpServer, Option<HttpServer>)> {
    let keys = Arc::new(WriteKeys::new(&config.websites, &config.allowed_origins));
    let privacy = Arc::new(privacy::PrivacySettings::new(config.anonymize_ip.clone()));
    let salts = Arc::new(privacy::DailySalts::default());
    let countries = Arc::new(match &config.country_db {
        Some(path) => countries::Countries::open(path).map_err(std::io::Error::other)?,
        None => {
            tracing::warn!("INGEST_COUNTRY_DB is not set: events carry no country");
            countries::Countries::none()
        }
    });
    countries.clone().spawn_reload(COUNTRY_DB_CHECK);
    let mut subject_keys = None;
    let mut key_lookup = None;
    if let Some(database) = &config.websites_database {
        let pool = database.lazy_pool().map_err(std::io::Error::other)?;
        websites::spawn_refresh(
            keys.clone(),
            privacy.clone(),
            pool.clone(),
            Duration::from_millis(config.websites_refresh_ms),
        )
        .await;
        salts
            .clone()
            .spawn_sync(pool.clone(), Duration::from_secs(60))
            .await;
        // An idle projector resumes the partitions this process writes to ([`runtime::wakeup`]).
        sink.announce_through(runtime::wakeup::Announcer::new(pool.clone()));
        if config.limits.key_lookups_per_s > 0.0 {
            key_lookup = Some(Arc::new(websites::KeyLookup::new(
                pool.clone(),
                config.limits.key_lookups_per_s,
                keys.clone(),
                privacy.clone(),
            )));
        }
        subject_keys = Some(Arc::new(SubjectKeys::new(pool)));
    } else {
        tracing::warn!(
            "no database configured: personal data goes to the topic unsealed, and erasure \
             cannot reach it there"
        );
    }
    let state = AppState {
        sink,
        keys,
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        limits: config.limits.clone(),
        metrics: Arc::new(metrics::IngestMetrics::default()),
        rate_limit: Arc::new(rate_limit::RateLimiter::new(
            config.limits.rate_limit_events_per_s,
            config.limits.rate_limit_burst,
        )),
        privacy,
        honor_opt_out: config.honor_opt_out,
        salts,
        countries,
        subject_keys,
        key_lookup,
    };
    let metrics = match config.metrics_addr {
        Some(addr) => Some(HttpServer::bind(addr, routes::metrics_router(state.clone())).await?),
        None => None,
    };
    Ok((HttpServer::bind(config.addr, app(state)).await?, metrics))
}
