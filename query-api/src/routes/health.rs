//! Health: liveness says the process serves; readiness says Postgres answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

pub async fn liveness() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match crate::store::ping(&state.pool).await {
        Ok(_) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "postgres": "unreachable"})),
            )
        }
    }
}
