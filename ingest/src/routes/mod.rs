//! The route table ([`api`]), documented by the handlers' types.

mod events;
mod health;
mod legacy;
mod openapi;
mod segment;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Method, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use runtime::documented::{Api, Published, doc};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;

/// Every operation ingest serves on its public port, documented by its handler's types.
pub fn api() -> Api<AppState> {
    Api::default()
        .post(
            "/v1/events",
            doc(
                "events",
                "Events: one, an array, `{batch, sent_at}` or NDJSON; gzip allowed. Each event is stored (acknowledged by the broker) or rejected with its reason; an invalid event does not cost its neighbours their place",
            ),
            events::post_events,
        )
        .get(
            "/v1/schemas",
            doc(
                "events",
                "The wire contract: every event type, its versions, producer and JSON Schema",
            ),
            schemas_catalogue,
        )
        // What existing widget and bot clients call; see `legacy`.
        .post(
            "/api/track-interaction",
            doc("legacy", "Widget load (becomes widget.loaded)"),
            legacy::track_interaction,
        )
        .post(
            "/client/update",
            doc(
                "legacy",
                "A user's message or CTA click (message.sent or cta.clicked)",
            ),
            legacy::client_update,
        )
        .post(
            "/api/contact/submit",
            doc(
                "legacy",
                "A contact form (contact.submitted); `id` is the contact request's id",
            ),
            legacy::contact_submit,
        )
        .post(
            "/api/chat",
            doc(
                "legacy",
                "A user's message and, with `response`, the bot's answer (message.sent, both or none)",
            ),
            legacy::chat,
        )
        // The Segment HTTP Tracking API; see `segment`.
        .post(
            "/v1/batch",
            doc("segment", "Segment HTTP Tracking API: a batch of track, identify, page, screen, group and alias messages (docs/segment.md)"),
            segment::batch,
        )
        .post(
            "/v1/track",
            doc("segment", "Segment: one track call; its `event` names a Colloquy event type"),
            segment::track,
        )
        .post(
            "/v1/identify",
            doc("segment", "Segment: one identify call (contact.identified when its traits name an address and a conversation)"),
            segment::identify,
        )
        .post(
            "/v1/page",
            doc("segment", "Segment: one page call (widget.loaded when it names a conversation)"),
            segment::page,
        )
        .post(
            "/v1/screen",
            doc("segment", "Segment: one screen call (widget.loaded when it names a conversation)"),
            segment::screen,
        )
        .post(
            "/v1/group",
            doc("segment", "Segment: one group call (answered as not used)"),
            segment::group,
        )
        .post(
            "/v1/alias",
            doc("segment", "Segment: one alias call (answered as not used)"),
            segment::alias,
        )
        // The one-letter paths analytics.js posts to (`/v1/t` for track, …).
        .post(
            "/v1/b",
            doc("segment", "Segment: as /v1/batch, the path analytics.js uses"),
            segment::batch,
        )
        .post(
            "/v1/t",
            doc("segment", "Segment: as /v1/track, the path analytics.js uses"),
            segment::track,
        )
        .post(
            "/v1/i",
            doc("segment", "Segment: as /v1/identify, the path analytics.js uses"),
            segment::identify,
        )
        .post(
            "/v1/p",
            doc("segment", "Segment: as /v1/page, the path analytics.js uses"),
            segment::page,
        )
        .post(
            "/v1/s",
            doc("segment", "Segment: as /v1/screen, the path analytics.js uses"),
            segment::screen,
        )
        .post(
            "/v1/g",
            doc("segment", "Segment: as /v1/group, the path analytics.js uses"),
            segment::group,
        )
        .post(
            "/v1/a",
            doc("segment", "Segment: as /v1/alias, the path analytics.js uses"),
            segment::alias,
        )
        .probes("The broker is reachable", health::readiness)
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    api()
        .publish(&Published::default(), openapi::document)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors())
        .layer(middleware::from_fn_with_state(
            state.metrics.http.clone(),
            runtime::metrics::measure,
        ))
        .layer(middleware::from_fn(runtime::access::log))
        .with_state(state)
}

/// `GET /metrics` alone, for its own listener (`INGEST_METRICS_ADDR`): not on the public port,
/// and not readable from a browser on another origin. Prometheus's text format, documented in
/// the metrics section of docs/api.md rather than in the public API's document.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(depth) = state.sink.queue_depth() {
        state.metrics.producer_queue_depth.set(depth);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// The wire contract: every event type, its version, producer and JSON Schema (generated
/// documents, hence untyped here).
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
            runtime::access::REQUEST_ID,
        ])
        .expose_headers([header::RETRY_AFTER, runtime::access::REQUEST_ID])
        .max_age(Duration::from_secs(24 * 60 * 60))
}
