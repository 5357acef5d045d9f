//! Request ids and the access log. Every request gets an id: the caller's `X-Request-Id` when it
//! is a reasonable one (up to 128 visible ASCII characters), else a new UUID. The id is
//! returned in the answer's `X-Request-Id` and is a field of the `request` span every log line
//! of the request is written in. When the answer's head is ready, one line (target `access`)
//! says the method, the matched route, the status, the latency and the body's size when known.
//!
//! Only the route's template is logged (`/v1/conversations/{id}`), never the path, the query
//! string or a header: write keys (`?write_key=`), tokens and cookies stay out of the logs.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's id when it is one to repeat in logs and answers, else a new one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Middleware: `axum::middleware::from_fn(runtime::access::log)`, outermost, so the id covers
/// every other layer's lines.
pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let bytes = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    span.in_scope(|| {
        tracing::info!(
            target: "access",
            %method,
            route,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1_000.0,
            bytes,
            "answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn with(id: Option<&str>) -> Request {
        let mut builder = axum::http::Request::builder().uri("/x");
        if let Some(id) = id {
            builder = builder.header("x-request-id", id);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn a_callers_id_is_kept_and_a_bad_one_replaced() {
        assert_eq!(request_id(&with(Some("lb-7f3a"))), "lb-7f3a");
        for bad in ["", "has space", &"x".repeat(129)] {
            let id = request_id(&with(Some(bad)));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        let made = request_id(&with(None));
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    }
}
