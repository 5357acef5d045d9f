//! The one error type ingest answers with. 4xx bodies say exactly what is wrong; 5xx bodies
//! stay generic and the cause goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or unknown write key")]
    UnknownWriteKey,
    #[error("origin {0:?} may not write to this website")]
    OriginNotAllowed(String),
    #[error("{0}")]
    MalformedRequest(String),
    #[error("{0}")]
    InvalidEvent(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Over a limit of the Segment API, which answers it with 400 (its libraries do not retry
    /// a 400; a 413 they may).
    #[error("{0}")]
    TooLargeForSegment(String),
    #[error("rate limit exceeded for this write key, retry later")]
    RateLimited { retry_after_s: u32 },
    /// The broker did not acknowledge: nothing unacknowledged was reported as stored.
    #[error("the event store is unavailable, retry later")]
    Unavailable { retry_after_s: u32, detail: Value },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownWriteKey => StatusCode::UNAUTHORIZED,
            ApiError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::MalformedRequest(_)
            | ApiError::InvalidEvent(_)
            | ApiError::TooLargeForSegment(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownWriteKey => "unauthorized",
            ApiError::OriginNotAllowed(_) => "origin_not_allowed",
            ApiError::MalformedRequest(_) => "malformed_request",
            ApiError::InvalidEvent(_) => "invalid_event",
            ApiError::PayloadTooLarge(_) | ApiError::TooLargeForSegment(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable { .. } => "unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        let retry_after = match &self {
            ApiError::Unavailable {
                retry_after_s,
                detail,
            } => {
                if let (Some(body), Some(detail)) = (body.as_object_mut(), detail.as_object()) {
                    body.extend(detail.clone());
                }
                Some(*retry_after_s)
            }
            ApiError::RateLimited { retry_after_s } => Some(*retry_after_s),
            _ => None,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
