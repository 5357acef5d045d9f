//! Keeps the write keys of websites created through the admin API current, and their privacy
//! settings: the projector writes `website.created` into the `websites` read model (and
//! `website.privacy_changed` into `website_privacy`), announces the change when its batch
//! commits, and ingest reloads them then, and every `INGEST_WEBSITES_REFRESH_MS` besides. When
//! Postgres is unreachable ingest keeps the keys it knows, so taking events never depends on
//! Postgres being up.
//!
//! A key ingest does not know yet is looked up at once ([`KeyLookup`]): `POST /v1/websites`
//! answers once the website is in the read model, so its key works from the first request
//! rather than from the next reload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::wakeup::{self, Signals};
use sqlx::PgPool;

use crate::error::ApiError;
use crate::keys::{Website, WriteKeys};
use crate::privacy::{PrivacySettings, StoredPrivacy};
use crate::rate_limit::RateLimiter;

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

/// A website's id and allowed origins, and its privacy settings if an admin made some.
type FoundRow = (String, Vec<String>, Option<bool>, Option<bool>);

/// The website one write key belongs to and its privacy settings (none until an admin made
/// some), from the live version.
pub async fn find(
    pool: &PgPool,
    key: &str,
) -> Result<Option<(Website, Option<StoredPrivacy>)>, sqlx::Error> {
    let schema = runtime::read_models::live_schema(pool).await?;
    let row: Option<FoundRow> = sqlx::query_as(&format!(
        "SELECT w.website_id, w.allowed_origins, p.anonymize_ip, p.record_country
             FROM \"{schema}\".websites w
             LEFT JOIN \"{schema}\".website_privacy p USING (website_id)
             WHERE w.write_key = $1"
    ))
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(id, allowed_origins, anonymize_ip, record_country)| {
            let privacy = match (anonymize_ip, record_country) {
                (Some(anonymize_ip), Some(record_country)) => Some(StoredPrivacy {
                    anonymize_ip,
                    record_country,
                }),
                _ => None,
            };
            (
                Website {
                    id,
                    allowed_origins,
                },
                privacy,
            )
        }),
    )
}

/// Looks up write keys ingest does not know yet, at most `INGEST_KEY_LOOKUPS_PER_S` a second
/// for the whole process: a write key is public, and made-up ones must not reach Postgres at
/// the rate anyone can send them. Past that budget an unknown key is answered `401` as before,
/// and a new key works from the next reload.
pub struct KeyLookup {
    pool: PgPool,
    budget: RateLimiter,
    keys: Arc<WriteKeys>,
    privacy: Arc<PrivacySettings>,
}

impl KeyLookup {
    /// `per_second` lookups, as many at once. Above zero: zero turns lookups off (the caller
    /// then has none).
    pub fn new(
        pool: PgPool,
        per_second: f64,
        keys: Arc<WriteKeys>,
        privacy: Arc<PrivacySettings>,
    ) -> Self {
        Self {
            pool,
            budget: RateLimiter::new(per_second, per_second.ceil() as u32),
            keys,
            privacy,
        }
    }

    /// The website of a key that is not among the known ones, learnt for the next requests.
    /// `Ok(None)`: no website has it (or the budget is spent); `Unavailable` when Postgres
    /// cannot say, since the key may be a valid one created a moment ago.
    pub async fn resolve(
        &self,
        key: &str,
        retry_after_s: u32,
    ) -> Result<Option<Website>, ApiError> {
        if key.is_empty() || self.budget.check("", 1, Instant::now()).is_err() {
            return Ok(None);
        }
        match find(&self.pool, key).await {
            Ok(Some((website, privacy))) => {
                if let Some(privacy) = privacy {
                    self.privacy.add_stored(&website.id, privacy);
                }
                self.keys.add_created(key, website.clone());
                Ok(Some(website))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                tracing::warn!(%error, "cannot look an unknown write key up");
                Err(ApiError::Unavailable {
                    retry_after_s,
                    detail: serde_json::json!({"accepted": 0, "event_ids": []}),
                })
            }
        }
    }
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

/// Loads the created websites into `keys` and the privacy settings into `privacy` once before
/// ingest serves (within [`crate::FIRST_LOAD_WAIT`]: Postgres being down must not stop ingest
/// starting), so a restarted ingest knows every key from its first request; then again each
/// time the projector announces a change ([`wakeup::WEBSITES`]), and every `interval` for
/// what an announcement lost with its connection missed, until the runtime stops.
pub async fn spawn_refresh(
    keys: Arc<WriteKeys>,
    privacy: Arc<PrivacySettings>,
    pool: PgPool,
    interval: Duration,
) {
    let mut changed = Signals::listen(&pool, &[wakeup::WEBSITES]).wake(wakeup::WEBSITES);
    let _ = tokio::time::timeout(crate::FIRST_LOAD_WAIT, reload(&keys, &privacy, &pool)).await;
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            changed.wait(interval).await;
            match reload(&keys, &privacy, &pool).await {
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
        }
    });
}

async fn reload(
    keys: &WriteKeys,
    privacy: &PrivacySettings,
    pool: &PgPool,
) -> Result<(), sqlx::Error> {
    // Keys first and on their own: a read-model version without the privacy table (a
    // projector not yet upgraded) must not stop new websites from writing.
    keys.set_created(load(pool).await?);
    privacy.set_stored(load_privacy(pool).await?);
    Ok(())
}
