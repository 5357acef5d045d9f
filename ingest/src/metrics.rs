//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `ingest_http_requests_total`, `ingest_http_request_duration_seconds`, `ingest_build_info` | | | as every service has them ([`runtime::metrics`]) |
//! | `ingest_events_accepted_total` | counter | | events the broker acknowledged |
//! | `ingest_events_rejected_total` | counter | `reason`: `invalid`, `too_large`, `broker_rejected`, `not_stored`, `rate_limited` | events not acknowledged, and why |
//! | `ingest_produce_latency_seconds` | histogram | | from handing a request's events to the producer to the last delivery report |
//! | `ingest_producer_queue_depth` | gauge | | records queued or in flight in the producer, at scrape time |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Why an event was not acknowledged, as counted.
pub mod reason {
    pub const INVALID: &str = "invalid";
    pub const TOO_LARGE: &str = "too_large";
    pub const BROKER_REJECTED: &str = "broker_rejected";
    pub const NOT_STORED: &str = "not_stored";
    pub const RATE_LIMITED: &str = "rate_limited";
}

pub struct IngestMetrics {
    registry: Registry,
    pub http: std::sync::Arc<runtime::metrics::HttpMetrics>,
    pub events_accepted: Counter,
    pub events_rejected: Family<ReasonLabels, Counter>,
    pub produce_latency: Histogram,
    pub producer_queue_depth: Gauge,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let http = runtime::metrics::HttpMetrics::register(&mut registry, "ingest");
        runtime::metrics::build_info(&mut registry, "ingest", env!("CARGO_PKG_VERSION"));
        let events_accepted = Counter::default();
        let events_rejected = Family::<ReasonLabels, Counter>::default();
        // 1 ms to about 16 s.
        let produce_latency = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let producer_queue_depth = Gauge::default();
        registry.register(
            "ingest_events_accepted",
            "Events the broker acknowledged",
            events_accepted.clone(),
        );
        registry.register(
            "ingest_events_rejected",
            "Events not acknowledged, by reason",
            events_rejected.clone(),
        );
        registry.register(
            "ingest_produce_latency_seconds",
            "Time from producing a request's events to the last delivery report",
            produce_latency.clone(),
        );
        registry.register(
            "ingest_producer_queue_depth",
            "Records queued or in flight in the producer",
            producer_queue_depth.clone(),
        );
        Self {
            registry,
            http,
            events_accepted,
            events_rejected,
            produce_latency,
            producer_queue_depth,
        }
    }
}

impl IngestMetrics {
    pub fn rejected(&self, reason: &'static str, n: u64) {
        if n > 0 {
            self.events_rejected
                .get_or_create(&ReasonLabels { reason })
                .inc_by(n);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        runtime::metrics::encode(&self.registry)
    }
}
