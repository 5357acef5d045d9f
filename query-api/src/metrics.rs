//! Prometheus metrics, served at `GET /metrics` on their own listener
//! (`QUERY_API_METRICS_ADDR`), in the text format.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `query_api_http_requests_total`, `query_api_http_request_duration_seconds`, `query_api_build_info` | | | as every service has them ([`runtime::metrics`]) |
//! | `query_api_streams_open` | gauge | | `GET /v1/stream` connections open, at scrape time |
//! | `query_api_exports_running` | gauge | | exports reading from Postgres, at scrape time |
//! | `query_api_export_rows_total` | counter | `format` | rows written into exports |
//! | `query_api_job_runs_total` | counter | `job`: `retention`, `reports`; `outcome`: `ok`, `failed` | runs of the background jobs in this process |
//! | `query_api_reports_sent_total` | counter | | weekly reports sent by this process |
//! | `query_api_webhook_attempts_total` | counter | `outcome`: `delivered`, `retry`, `failed`, `dropped` | webhook attempts this process recorded, by what became of the delivery: sent (2xx), to be tried again, given up (retries spent, a 4xx, a redirect), or not sent (its subject erased or gone) |
//! | `query_api_webhook_attempt_seconds` | histogram | | from sending an attempt to the end of its answer, for attempts that reached the endpoint or timed out |
//! | `query_api_webhook_queue_depth` | gauge | | deliveries pending, of every endpoint and dispatcher, at scrape time |
//! | `query_api_webhook_oldest_pending_age_seconds` | gauge | | how long the oldest pending delivery has waited since it was enqueued (0 when none waits) |
//! | `query_api_webhook_endpoints_disabled` | gauge | | endpoints the dispatcher disabled for failing (`WEBHOOK_DISABLE_AFTER_S`), not enabled again since |
//! | `query_api_database_up` | gauge | | 1 when the last scrape could read Postgres, else 0 (the gauges above then keep their last values) |
//!
//! Counters are per process: with several dispatchers, sum them. The gauges read the shared
//! tables, so every instance reports the same values.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::store::webhooks::Next;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FormatLabels {
    pub format: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: &'static str,
    pub outcome: &'static str,
}

pub struct QueryMetrics {
    registry: Registry,
    pub http: std::sync::Arc<runtime::metrics::HttpMetrics>,
    pub streams_open: Gauge,
    pub exports_running: Gauge,
    pub export_rows: Family<FormatLabels, Counter>,
    pub job_runs: Family<JobLabels, Counter>,
    pub reports_sent: Counter,
    pub webhook_attempts: Family<OutcomeLabels, Counter>,
    pub webhook_attempt_seconds: Histogram,
    pub webhook_queue_depth: Gauge,
    pub webhook_oldest_pending_age: Gauge<f64, AtomicU64>,
    pub webhook_endpoints_disabled: Gauge,
    pub database_up: Gauge,
}

impl Default for QueryMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = runtime::metrics::HttpMetrics::register(&mut registry, "query_api");
        runtime::metrics::build_info(&mut registry, "query_api", env!("CARGO_PKG_VERSION"));
        let m = Self {
            registry: Registry::default(),
            http,
            streams_open: Gauge::default(),
            exports_running: Gauge::default(),
            export_rows: Family::default(),
            job_runs: Family::default(),
            reports_sent: Counter::default(),
            webhook_attempts: Family::default(),
            // 5 ms to about 41 s, past the longest attempt a dispatcher allows by default.
            webhook_attempt_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            webhook_queue_depth: Gauge::default(),
            webhook_oldest_pending_age: Gauge::default(),
            webhook_endpoints_disabled: Gauge::default(),
            database_up: Gauge::default(),
        };
        registry.register(
            "query_api_streams_open",
            "Live stream connections open",
            m.streams_open.clone(),
        );
        registry.register(
            "query_api_exports_running",
            "Exports reading from Postgres",
            m.exports_running.clone(),
        );
        registry.register(
            "query_api_export_rows",
            "Rows written into exports, by format",
            m.export_rows.clone(),
        );
        registry.register(
            "query_api_job_runs",
            "Runs of the background jobs, by job and outcome",
            m.job_runs.clone(),
        );
        registry.register(
            "query_api_reports_sent",
            "Weekly reports sent",
            m.reports_sent.clone(),
        );
        registry.register(
            "query_api_webhook_attempts",
            "Webhook attempts recorded, by what became of the delivery",
            m.webhook_attempts.clone(),
        );
        registry.register(
            "query_api_webhook_attempt_seconds",
            "Time from sending a webhook attempt to the end of its answer",
            m.webhook_attempt_seconds.clone(),
        );
        registry.register(
            "query_api_webhook_queue_depth",
            "Webhook deliveries pending",
            m.webhook_queue_depth.clone(),
        );
        registry.register(
            "query_api_webhook_oldest_pending_age_seconds",
            "How long the oldest pending webhook delivery has waited",
            m.webhook_oldest_pending_age.clone(),
        );
        registry.register(
            "query_api_webhook_endpoints_disabled",
            "Webhook endpoints disabled for failing",
            m.webhook_endpoints_disabled.clone(),
        );
        registry.register(
            "query_api_database_up",
            "Whether the last scrape could read Postgres",
            m.database_up.clone(),
        );
        Self { registry, ..m }
    }
}

impl QueryMetrics {
    /// Counts an attempt the dispatcher recorded.
    pub fn attempt(&self, next: &Next) {
        let outcome = match next {
            Next::Delivered => "delivered",
            Next::RetryAt(_) => "retry",
            Next::Failed => "failed",
            Next::Dropped => "dropped",
        };
        self.webhook_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a run of a background job.
    pub fn job(&self, job: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.job_runs
            .get_or_create(&JobLabels { job, outcome })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        runtime::metrics::encode(&self.registry)
    }
}
