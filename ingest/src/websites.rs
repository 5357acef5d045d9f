//! Keeps the write keys of websites created through the admin API current, and their privacy
//! settings: the projector writes `website.created` into the `websites` read model (and
//! `website.privacy_changed` into `website_privacy`), and ingest reloads them every
//! `INGEST_WEBSITES_REFRESH_MS`. When Postgres is unreachable ingest keeps the keys it knows,
//! so taking events never depends on Postgres being up.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::keys::{Website, WriteKeys};
use crate::privacy::{PrivacySettings, StoredPrivacy};

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

/// Every website's privacy settings, from the live version.
pub async fn load_privacy(pool: &PgPool) -> Result<Vec<(String, StoredPrivacy)>, sqlx::Error> {
    let schema = runtime::read_models::live_schema(pool).await?;
    let rows: Vec<(String, bool, bool)> = sqlx::query_as(&format!(
        "SELECT website_id, anonymize_ip, record_country FROM \"{schema}\".website_privacy"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(website, anonymize_ip, record_country)| {
            (
                website,
                StoredPrivacy {
                    anonymize_ip,
                    record_country,
                },
            )
        })
        .collect())
}

/// Reloads the created websites into `keys` and the privacy settings into `privacy` every
/// `interval`, until the runtime stops.
pub fn spawn_refresh(
    keys: Arc<WriteKeys>,
    privacy: Arc<PrivacySettings>,
    pool: PgPool,
    interval: Duration,
) {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            // Keys first and on their own: a read-model version without the privacy table
            // (a projector not yet upgraded) must not stop new websites from writing.
            let loaded = match load(&pool).await {
                Ok(websites) => {
                    keys.set_created(websites);
                    load_privacy(&pool).await.map(|s| privacy.set_stored(s))
                }
                Err(error) => Err(error),
            };
            match loaded {
                Ok(()) => {
                    if failing {
                        tracing::info!("website keys reloaded again");
                    }
                    failing = false;
                }
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot reload website keys or privacy settings; keeping the ones known");
                }
                Err(_) => {}
            }
            tokio::time::sleep(interval).await;
        }
    });
}
