//! The one error type the query API answers with. 4xx bodies are specific; 5xx bodies are
//! generic and the cause goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid admin token")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the read models are unavailable, retry later")]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Database(error) => {
                tracing::error!(%error, "database error");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        (
            status,
            Json(json!({"error": code, "message": self.to_string()})),
        )
            .into_response()
    }
}
