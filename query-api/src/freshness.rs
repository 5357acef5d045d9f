//! How fresh a read is: the projector position the read models reflect.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::AppState;
use crate::auth::{Admin, Scope};
use crate::error::ApiError;

/// The projector position a read reflects.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AsOf {
    /// When the projector last committed a batch.
    pub projected_at: Option<DateTime<Utc>>,
    /// Per partition, the offset of the next event not yet reflected; for the bootstrap token
    /// only ([`AsOf::seen_by`]).
    pub position: serde_json::Map<String, serde_json::Value>,
}

impl AsOf {
    /// What a token may see of it: the bootstrap token every partition's position; a token
    /// limited to some websites only when the projector last committed, since positions count
    /// every tenant's traffic.
    pub fn seen_by(mut self, scope: &Scope) -> Self {
        if *scope != Scope::All {
            self.position.clear();
        }
        self
    }
}

/// The projector's stored position: every read taken after this call reflects at least it.
pub async fn as_of(pool: &PgPool) -> Result<AsOf, sqlx::Error> {
    let rows = crate::store::offsets::all(pool).await?;
    Ok(AsOf {
        projected_at: rows.iter().map(|r| r.updated_at).max(),
        position: rows
            .iter()
            .map(|r| (r.partition.to_string(), r.next_offset.into()))
            .collect(),
    })
}

/// A handler's `AsOf`: the one the freshness middleware read before the handler ran (so each
/// read queries the position once), or read now where the middleware did not run.
impl FromRequestParts<AppState> for AsOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let as_of = match parts.extensions.get::<AsOf>() {
            Some(as_of) => as_of.clone(),
            None => as_of(&state.pool).await?,
        };
        // Without a token, as little as with the narrowest one.
        let nobody = Scope::Websites(Vec::new());
        let scope = parts
            .extensions
            .get::<Admin>()
            .map_or(&nobody, |a| &a.scope);
        Ok(as_of.seen_by(scope))
    }
}
