//! `query-api`: the admin API. It reads only the Postgres read models the projector
//! maintains; admin actions are produced as events to the topic, never written here directly.
//!
//! # Layout
//! - [`config`]: [`QueryApiConfig`], read from the environment.
//! - [`auth`]: bearer tokens and the websites each may see ([`auth::Scope`]).
//! - [`actions`]: producing admin events and waiting for the projector to apply them.
//! - [`freshness`]: the projector position a read reflects (`as_of`).
//! - [`live`]: the changes the projector announces, fanned out to `GET /v1/stream`.
//! - [`reports`]: the weekly e-mail reports, sent through [`mail`]; [`retention`]: the
//!   retention job.
//! - [`routes`]: the route table; one module per resource, `legacy` for the routes existing
//!   dashboards call.
//! - [`store`]: the SQL behind each view, as small functions returning `*Row` types.
//! - [`webhooks`]: the dispatcher that posts enqueued deliveries to websites' endpoints.
//! - [`metrics`]: Prometheus metrics and their documented names.
//! - [`error`]: [`error::ApiError`], the one error type handlers answer with.

pub mod actions;
pub mod auth;
pub mod config;
pub mod error;
pub mod export;
pub mod freshness;
pub mod limits;
pub mod live;
pub mod mail;
pub mod metrics;
pub mod questions;
pub mod reports;
pub mod retention;
pub mod routes;
pub mod store;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use runtime::http::HttpServer;
use runtime::kafka::EventSink;
use runtime::subject_keys::SubjectKeys;
use sqlx::PgPool;

pub use config::QueryApiConfig;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub admin_token: Arc<str>,
    /// Where admin actions go.
    pub sink: Arc<dyn EventSink>,
    /// How long an admin action waits to be applied before answering 202.
    pub admin_wait: Duration,
    /// What admin events are signed with (`ADMIN_EVENT_KEYS`).
    pub admin_event_keys: runtime::proof::AdminKeys,
    /// The keys admin events about a person are sealed with (contact edits, request notes).
    pub subject_keys: Arc<SubjectKeys>,
    /// What the projector announces as it commits, for `GET /v1/stream`.
    pub live: live::Feed,
    /// The SMTP client weekly reports go through, when one is configured.
    pub mailer: Option<Arc<mail::Mailer>>,
    /// Wrong admin tokens per client address (`AUTH_FAILURES_PER_MINUTE`).
    pub auth_failures: Arc<auth::AuthFailures>,
    /// Whose forwarding headers name the client (`QUERY_API_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<runtime::client_ip::TrustedProxies>,
    /// When each created token's use was last written.
    pub token_uses: Arc<auth::TokenUses>,
    /// Exports running, per token and in total (`EXPORTS_*`).
    pub exports: Arc<limits::Gate>,
    /// How long an export waits for its client to read on (`EXPORT_STALL_S`).
    pub export_stall: Duration,
    /// Live streams open, per token and in total (`STREAMS_*`).
    pub streams: Arc<limits::Gate>,
    /// Reports a website may be sent a day (`REPORT_SENDS_PER_DAY`).
    pub report_sends_per_day: u32,
    /// The most questions the bot-quality view groups (`BOT_QUALITY_QUESTIONS`).
    pub bot_quality_questions: i64,
    /// Where webhook endpoints may point, and how long a rotated-out secret still signs.
    pub webhooks: Arc<webhooks::WebhookConfig>,
    /// What `GET /metrics` reports (`QUERY_API_METRICS_ADDR`).
    pub metrics: Arc<metrics::QueryMetrics>,
}

impl AppState {
    /// The state `config` describes, around a pool and a sink.
    pub fn new(
        config: &QueryApiConfig,
        pool: PgPool,
        sink: Arc<dyn EventSink>,
    ) -> std::io::Result<Self> {
        let mailer = match &config.email {
            Some(email) => Some(Arc::new(
                mail::Mailer::new(email).map_err(std::io::Error::other)?,
            )),
            None => None,
        };
        let limits = &config.limits;
        Ok(Self {
            subject_keys: Arc::new(SubjectKeys::new(pool.clone())),
            live: live::Feed::listen(pool.clone()),
            pool,
            admin_token: config.admin_token.as_str().into(),
            admin_event_keys: config.admin_event_keys.clone(),
            sink,
            admin_wait: config.admin_wait,
            mailer,
            auth_failures: Arc::new(auth::AuthFailures::new(
                config.auth_failures_per_minute,
                Duration::from_secs(60),
            )),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            token_uses: Arc::default(),
            exports: limits::Gate::new("exports", limits.exports_per_token, limits.exports_max),
            export_stall: limits.export_stall,
            streams: limits::Gate::new("streams", limits.streams_per_token, limits.streams_max),
            report_sends_per_day: config.report_sends_per_day,
            bot_quality_questions: limits.bot_quality_questions,
            webhooks: Arc::new(config.webhooks.clone()),
            metrics: Arc::default(),
        })
    }
}

pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Binds the query API server; run it with [`HttpServer::run_until_stopped`]. Its metrics are
/// served on their own listener (`QUERY_API_METRICS_ADDR`) for as long as the process runs.
pub async fn build(
    config: &QueryApiConfig,
    pool: PgPool,
    sink: Arc<dyn EventSink>,
) -> std::io::Result<HttpServer> {
    build_with(config, AppState::new(config, pool, sink)?).await
}

/// [`build`] around a state made already (tests read its metrics).
pub async fn build_with(config: &QueryApiConfig, state: AppState) -> std::io::Result<HttpServer> {
    let mailer = state.mailer.clone();
    // An idle projector resumes the partitions admin events go to ([`runtime::wakeup`]).
    state
        .sink
        .announce_through(runtime::wakeup::Announcer::new(state.pool.clone()));
    if let Some(interval) = config.retention_interval {
        retention::spawn(state.clone(), interval);
    }
    match (mailer, config.report_interval) {
        (Some(mailer), Some(interval)) => reports::spawn(
            state.pool.clone(),
            mailer,
            interval,
            state.bot_quality_questions,
            state.metrics.clone(),
        ),
        (None, Some(_)) => tracing::info!("no EMAIL_HOST: weekly reports are not sent"),
        _ => {}
    }
    if config.webhooks.dispatch {
        webhooks::spawn(
            state.pool.clone(),
            config.webhooks.clone(),
            state.metrics.clone(),
        );
    }
    if let Some(addr) = config.metrics_addr {
        let metrics =
            HttpServer::bind(addr, routes::metrics::metrics_router(state.clone())).await?;
        tracing::info!(addr = %metrics.local_addr(), "query-api metrics listening");
        tokio::spawn(metrics.run_until_stopped(std::future::pending()));
    }
    HttpServer::bind(config.addr, app(state)).await
}
