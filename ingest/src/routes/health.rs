//! Health: liveness says the process serves; readiness says the broker is reachable.

use axum::extract::State;
use runtime::health::Readiness;

use crate::AppState;

pub async fn readiness(State(state): State<AppState>) -> Readiness {
    Readiness::of("broker", state.sink.check_ready().await)
}
