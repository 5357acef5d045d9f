//! The route table.

mod events;
mod health;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::AppState;

pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/_liveness", get(health::liveness))
        .route("/_readiness", get(health::readiness))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
