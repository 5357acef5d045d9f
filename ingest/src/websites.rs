//! Keeps the write keys of websites created through the admin API current: the projector
//! writes `website.created` into the `websites` read model, and ingest reloads it every
//! `INGEST_WEBSITES_REFRESH_MS`. When Postgres is unreachable ingest keeps the keys it knows,
//! so taking events never depends on Postgres being up.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::keys::{Website, WriteKeys};

/// Every created website as `(write_key, website)`, from the live version of the read models.
pub async fn load(pool: &PgPool) -> Result<Vec<(String, Website)>, sqlx::Error> {
    let schema = runtime::read_models::live_schema(pool).await?;
    let rows: Vec<(String, String, Vec<String>)> = sqlx::query_as(&format!(
        "SELECT write_key, website_id, allowed_origins FROM \"{schema}\".websites"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, id, allowed_origins)| {
            (
                key,
                Website {
                    id,
                    allowed_origins,
                },
            )
        })
        .collect())
}

/// Reloads the created websites into `keys` every `interval`, until the runtime stops.
pub fn spawn_refresh(keys: Arc<WriteKeys>, pool: PgPool, interval: Duration) {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            match load(&pool).await {
                Ok(websites) => {
                    if failing {
                        tracing::info!("website keys reloaded again");
                    }
                    failing = false;
                    keys.set_created(websites);
                }
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot reload website keys; keeping the ones known");
                }
                Err(_) => {}
            }
            tokio::time::sleep(interval).await;
        }
    });
}
