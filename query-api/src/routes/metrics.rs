//! `GET /metrics` alone, for its own listener (`QUERY_API_METRICS_ADDR`): not on the public
//! port. Prometheus's text format; the names are documented in [`crate::metrics`].

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;

use crate::AppState;
use crate::store::webhooks as store;

pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The counters as they stand, and the gauges read from Postgres now. A database that does not
/// answer is reported (`query_api_database_up 0`), not hidden behind a failed scrape.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    m.streams_open.set(state.streams.running() as i64);
    m.exports_running.set(state.exports.running() as i64);
    match store::queue(&state.pool).await {
        Ok(queue) => {
            m.database_up.set(1);
            m.webhook_queue_depth.set(queue.pending);
            m.webhook_endpoints_disabled.set(queue.endpoints_disabled);
            let age = queue.oldest_pending_at.map_or(0.0, |at| {
                (Utc::now() - at).num_milliseconds().max(0) as f64 / 1_000.0
            });
            m.webhook_oldest_pending_age.set(age);
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the webhook queue");
            m.database_up.set(0);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.encode(),
    )
}
