//! `/_liveness`, `/_readiness` and `/metrics` on a small port of their own.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::PgPool;

use crate::consumer::Health;

#[derive(Clone)]
struct HealthState {
    health: Arc<Health>,
    pool: PgPool,
}

pub fn router(health: Arc<Health>, pool: PgPool) -> Router {
    Router::new()
        .route("/_liveness", get(|| async { "alive" }))
        .route("/_readiness", get(readiness))
        .route("/metrics", get(metrics))
        .with_state(HealthState { health, pool })
}

async fn metrics(State(state): State<HealthState>) -> impl axum::response::IntoResponse {
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    (content_type, state.health.metrics.encode())
}

async fn readiness(State(state): State<HealthState>) -> (StatusCode, &'static str) {
    if !state.health.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not consuming");
    }
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "postgres unreachable"),
    }
}
