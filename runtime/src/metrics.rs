//! The Prometheus metrics every service has: requests by matched route and status, their
//! latency by route, and what build is running. Each service registers them under its own
//! prefix beside its own metrics (`ingest/src/metrics.rs`, `query-api/src/metrics.rs`,
//! `projector/src/metrics.rs` document the names).
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `{prefix}_http_requests_total` | counter | `route`, `status` | requests answered |
//! | `{prefix}_http_request_duration_seconds` | histogram | `route` | from the request's arrival to its answer's head (a stream's or an export's body goes on after) |
//! | `{prefix}_build_info` | gauge, always 1 | `version`, `commit` | what is running |

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// 1 ms to about 33 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Requests by route and status, and their latency by route.
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    /// Registers `{prefix}_http_requests` and `{prefix}_http_request_duration_seconds`.
    pub fn register(registry: &mut Registry, prefix: &str) -> Arc<Self> {
        let m = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency),
        };
        registry.register(
            format!("{prefix}_http_requests"),
            "Requests answered, by matched route and status",
            m.requests.clone(),
        );
        registry.register(
            format!("{prefix}_http_request_duration_seconds"),
            "Time from a request's arrival to its answer's head, by matched route",
            m.duration.clone(),
        );
        Arc::new(m)
    }
}

/// Middleware counting and timing every answer by its matched route (`unmatched` for none):
/// `axum::middleware::from_fn_with_state(metrics, runtime::metrics::measure)`.
pub async fn measure(State(m): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    m.duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Registers `{prefix}_build_info{version, commit} 1`: the package version and the commit the
/// binary was built from ([`crate::cli::commit`]).
pub fn build_info(registry: &mut Registry, prefix: &str, version: &str) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels {
        version: version.to_owned(),
        commit: crate::cli::commit().to_owned(),
    })
    .set(1);
    registry.register(
        format!("{prefix}_build_info"),
        "What is running: the version and the commit it was built from",
        info,
    );
}

/// The Prometheus text exposition of every metric in `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::error!(%error, "cannot encode metrics");
    }
    text
}
