//! Versioned read models. Each version of the read models lives in its own Postgres schema:
//! version 1 in `public`, later ones in `rm_v2`, `rm_v3`, … `colloquy.read_models` says which
//! one is live; `projector rebuild` builds the next one beside it and switches. Every service
//! that reads the read models follows the live version through [`LiveSchema`].

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::Executor;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::postgres::PostgresConfig;
use crate::wakeup::{self, Signals};

/// The schema of the metadata: which versions exist, which is live, and the rebuild's
/// handshake with the live projector.
pub const META_SCHEMA: &str = "colloquy";

/// The advisory lock every process holds while it creates the `colloquy` schema
/// (concurrent `CREATE SCHEMA IF NOT EXISTS` can fail on a unique violation), and while it
/// registers a new version. The projector's migration of `colloquy.subject_keys` takes it too
/// (by its value).
pub const META_LOCK: i64 = 7_420_516;

/// The schema version `version` lives in.
pub fn schema_name(version: i32) -> String {
    if version <= 1 {
        "public".to_owned()
    } else {
        format!("rm_v{version}")
    }
}

/// Whether `schema` is one this code creates (so it is safe to put in SQL as an identifier).
pub fn is_read_model_schema(schema: &str) -> bool {
    schema == "public"
        || schema
            .strip_prefix("rm_v")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Whether the version metadata exists (a database the projector never set up has none).
async fn has_meta(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('colloquy.read_models')::text")
            .fetch_one(pool)
            .await?;
    Ok(exists.is_some())
}

/// The live schema: `public` until a rebuild has switched (or when the metadata does not exist).
pub async fn live_schema(pool: &PgPool) -> Result<String, sqlx::Error> {
    if !has_meta(pool).await? {
        return Ok("public".to_owned());
    }
    let live: Option<String> =
        sqlx::query_scalar("SELECT schema_name FROM colloquy.read_models WHERE state = 'live'")
            .fetch_optional(pool)
            .await?;
    Ok(live
        .filter(|s| is_read_model_schema(s))
        .unwrap_or_else(|| "public".to_owned()))
}

/// Whether a rebuild is building a new version beside the live one.
pub async fn rebuilding(pool: &PgPool) -> Result<bool, sqlx::Error> {
    if !has_meta(pool).await? {
        return Ok(false);
    }
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM colloquy.read_models WHERE state = 'building')",
    )
    .fetch_one(pool)
    .await
}

/// A pool whose connections read and write `schema`.
pub fn pool_for_schema(config: &PostgresConfig, schema: &str) -> Result<PgPool, sqlx::Error> {
    if !is_read_model_schema(schema) {
        return Err(sqlx::Error::Configuration(
            format!("not a read-model schema: {schema}").into(),
        ));
    }
    let set = format!("SET search_path TO \"{schema}\"");
    PgPoolOptions::new()
        .max_connections(config.pool_size)
        .acquire_timeout(Duration::from_millis(config.connect_timeout_ms))
        .after_connect(move |conn, _| {
            let set = set.clone();
            Box::pin(async move {
                conn.execute(set.as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy(&config.url)
}

/// The live schema as this process last saw it, kept current by [`LiveSchema::spawn_watch`].
#[derive(Debug)]
pub struct LiveSchema {
    state: RwLock<(String, Instant)>,
}

impl LiveSchema {
    pub fn new(schema: &str) -> Arc<Self> {
        Arc::new(Self {
            state: RwLock::new((schema.to_owned(), Instant::now())),
        })
    }

    pub fn current(&self) -> String {
        self.state
            .read()
            .map(|s| s.0.clone())
            .unwrap_or_else(|p| p.into_inner().0.clone())
    }

    /// How long ago the live schema last changed.
    pub fn since_switch(&self) -> Duration {
        self.state
            .read()
            .map(|s| s.1.elapsed())
            .unwrap_or_else(|p| p.into_inner().1.elapsed())
    }

    fn set(&self, schema: String) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.0 != schema {
            tracing::info!(from = %state.0, to = %schema, "the live read models moved");
            *state = (schema, Instant::now());
        }
    }

    /// Reads the metadata when a switch is announced ([`wakeup::CONTROL`]), and every
    /// `interval` besides, until the runtime stops.
    pub fn spawn_watch(self: &Arc<Self>, pool: PgPool, interval: Duration) {
        let live = self.clone();
        let mut control = Signals::listen(&pool, &[wakeup::CONTROL]).wake(wakeup::CONTROL);
        tokio::spawn(async move {
            loop {
                if let Ok(schema) = live_schema(&pool).await {
                    live.set(schema);
                }
                control.wait(interval).await;
            }
        });
    }
}

/// A pool that follows the live version: new connections are set to the live schema, and a
/// connection opened before the last switch is closed instead of handed out, so after a
/// switch every query runs against the new version (and each against one version only).
///
/// Its connections plan every statement for the values it runs with (`plan_cache_mode =
/// force_custom_plan`): the reads are filters whose selectivity swings with their values (a
/// contact search for a common name, or a rare e-mail address). After five runs of a statement
/// Postgres otherwise settled on one generic plan, and on 1,000,000 conversations a website's
/// active-conversation list went from 40-80 ms to 320-550 ms and a contact search from 16 ms
/// to 290-400 ms. Planning each read costs about a millisecond.
pub fn following_pool(
    config: &PostgresConfig,
    live: Arc<LiveSchema>,
) -> Result<PgPool, sqlx::Error> {
    let on_connect = live.clone();
    PgPoolOptions::new()
        .max_connections(config.pool_size)
        .acquire_timeout(Duration::from_millis(config.connect_timeout_ms))
        .after_connect(move |conn, _| {
            let schema = on_connect.current();
            Box::pin(async move {
                if is_read_model_schema(&schema) {
                    conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                        .await?;
                }
                conn.execute("SET plan_cache_mode = force_custom_plan")
                    .await?;
                Ok(())
            })
        })
        .before_acquire(move |_, meta| {
            let fresh = meta.age < live.since_switch();
            Box::pin(async move { Ok(fresh) })
        })
        .connect_lazy(&config.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_model_schemas_are_accepted_as_identifiers() {
        assert!(is_read_model_schema("public"));
        assert!(is_read_model_schema("rm_v12"));
        assert!(!is_read_model_schema("rm_v"));
        assert!(!is_read_model_schema("rm_v1; DROP TABLE x"));
        assert!(!is_read_model_schema("colloquy"));
        assert_eq!(schema_name(1), "public");
        assert_eq!(schema_name(3), "rm_v3");
    }
}
