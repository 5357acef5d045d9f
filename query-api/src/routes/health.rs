//! Health: liveness says the process serves; readiness says Postgres answers.

use axum::extract::State;
use runtime::health::Readiness;

use crate::AppState;

pub async fn readiness(State(state): State<AppState>) -> Readiness {
    Readiness::of("postgres", crate::store::ping(&state.pool).await)
}
