//! The route table.

mod conversations;
mod health;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/conversations", get(conversations::list))
        .route("/v1/conversations/{id}", get(conversations::detail))
        .route("/_liveness", get(health::liveness))
        .route("/_readiness", get(health::readiness))
        .with_state(state)
}
