//! Health: liveness says the process serves; readiness says the broker is reachable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

pub async fn liveness() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.sink.check_ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "broker": "unreachable"})),
            )
        }
    }
}
