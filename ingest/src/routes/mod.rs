//! The route table.

mod events;
mod health;
mod legacy;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;

pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/v1/schemas", get(schemas_catalogue))
        // What existing widget and bot clients call; see `legacy`.
        .route("/api/track-interaction", post(legacy::track_interaction))
        .route("/client/update", post(legacy::client_update))
        .route("/api/contact/submit", post(legacy::contact_submit))
        .route("/api/chat", post(legacy::chat))
        .route("/_liveness", get(health::liveness))
        .route("/_readiness", get(health::readiness))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors())
        .with_state(state)
}

/// The wire contract: every event type, its version, producer and JSON Schema.
async fn schemas_catalogue() -> axum::Json<serde_json::Value> {
    axum::Json(schemas::json_schema::catalogue())
}

/// Browsers on any site may post: the preflight cannot carry the write key, so it is answered
/// for every origin, and a website's origin allow-list is enforced on the request itself.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::AUTHORIZATION,
            HeaderName::from_static("x-write-key"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(24 * 60 * 60))
}
