//! The one error type the query API answers with. 4xx bodies are specific; 5xx bodies are
//! generic and the cause goes to the log.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid admin token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is valid but contradicts the current state (e.g. an illegal status move).
    #[error("{0}")]
    Conflict(String),
    #[error("the read models are unavailable, retry later")]
    Database(#[from] sqlx::Error),
    /// The broker did not acknowledge an admin action: nothing was changed; retrying is safe.
    #[error("the event log is unavailable, retry later: {0}")]
    Unavailable(String),
    /// Something else this request needs is down or busy for now (the mail server, a rebuild):
    /// nothing was done; retrying later is safe.
    #[error("{0}")]
    TryLater(String),
    /// Too many wrong admin tokens came from the client's address: none is checked until the
    /// given number of seconds has passed.
    #[error("too many wrong admin tokens from this address: retry in {0} s")]
    TooManyFailures(u64),
    /// A bound on work ([`crate::limits::Gate`], manual report sends) was reached: the
    /// token's or website's own (429) or the whole server's (503). Nothing was done; retrying
    /// after `retry_after_s` is safe.
    #[error("{message}")]
    Limited {
        message: String,
        whole_server: bool,
        retry_after_s: u64,
    },
    /// A feature this instance was not configured for (reports without `EMAIL_HOST`): retrying
    /// will not help until an operator configures it.
    #[error("{0}")]
    NotConfigured(&'static str),
}

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_S: &str = "1";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A data exception (SQLSTATE class 22: a NUL character, a number out of range) comes
        // from what the request carried, not from the database being down: retrying is no use.
        if let ApiError::Database(sqlx::Error::Database(db)) = &self
            && db.code().is_some_and(|c| c.starts_with("22"))
        {
            let message = format!(
                "a parameter holds a value that cannot be used: {}",
                db.message()
            );
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "bad_request", "message": message})),
            )
                .into_response();
        }
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Database(error) => {
                tracing::error!(%error, "database error");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Unavailable(error) => {
                tracing::warn!(%error, "admin action not acknowledged");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::NotConfigured(_) => (StatusCode::NOT_IMPLEMENTED, "not_configured"),
            ApiError::TooManyFailures(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Limited {
                whole_server: false,
                ..
            } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Limited {
                whole_server: true, ..
            } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TryLater(error) => {
                tracing::warn!(%error, "request deferred");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let mut response = (
            status,
            Json(json!({"error": code, "message": self.to_string()})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(RETRY_AFTER_S),
            );
        }
        match self {
            ApiError::TooManyFailures(seconds) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            ApiError::Limited { retry_after_s, .. } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(retry_after_s),
                );
            }
            _ => {}
        }
        response
    }
}
