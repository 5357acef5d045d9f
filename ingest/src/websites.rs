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

/// Created websites as `(write_key, website)`, from the live version of the read models: every
/// one, or the one `key` belongs to.
pub async fn load(pool: &PgPool, key: Option<&str>) -> Result<Vec<(String, Website)>, sqlx::Error> {
    let schema = runtime::read_models::live_schema(pool).await?;
    let rows: Vec<(String, String, Vec<String>)> = sqlx::query_as(&format!(
        "SELECT write_key, website_id, allowed_origins FROM \"{schema}\".websites
         WHERE $1::text IS NULL OR write_key = $1"
    ))
    .bind(key)
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

/// Looks up write keys ingest does not know yet, at most `INGEST_KEY_LOOKUPS_PER_S` a second
/// for the whole process: a write key is public, and made-up ones must not reach Postgres at
/// the rate anyone can send them. Past that budget an unknown key is answered `401`, and a new
/// key works once the projector's announcement or the next reload brought it.
pub struct KeyLookup {
    pool: PgPool,
    budget: RateLimiter,
    keys: Arc<WriteKeys>,
    privacy: Arc<PrivacySettings>,
}

impl KeyLookup {
    /// `per_second` (above zero; at zero the caller makes no `KeyLookup`) lookups a second, as
    /// many at once.
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
        let found = async {
            let Some((_, website)) = load(&self.pool, Some(key)).await?.pop() else {
                return Ok(None);
            };
            let privacy = load_privacy(&self.pool, Some(&website.id)).await?;
            Ok::<_, sqlx::Error>(Some((website, privacy)))
        };
        match found.await {
            Ok(Some((website, privacy))) => {
                for (id, settings) in privacy {
                    self.privacy.add_stored(&id, settings);
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

/// The privacy settings admins made, from the live version: every website's, or `website`'s.
pub async fn load_privacy(
    pool: &PgPool,
    website: Option<&str>,
) -> Result<Vec<(String, StoredPrivacy)>, sqlx::Error> {
    let schema = runtime::read_models::live_schema(pool).await?;
    let rows: Vec<(String, bool, bool)> = sqlx::query_as(&format!(
        "SELECT website_id, anonymize_ip, record_country FROM \"{schema}\".website_privacy
         WHERE $1::text IS NULL OR website_id = $1"
    ))
    .bind(website)
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
    keys.set_created(load(pool, None).await?);
    privacy.set_stored(load_privacy(pool, None).await?);
    Ok(())
}
