//! Health: liveness says the process serves; readiness says Postgres answers.

use axum::extract::State;
use runtime::health::Readiness;

use crate::AppState;

pub async fn readiness(State(state): State<AppState>) -> Readiness {
    let error = crate::store::ping(&state.pool).await.err();
    Readiness::of("postgres", error.as_ref().map(|e| e as _))
}
