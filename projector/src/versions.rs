//! Read-model versions: the metadata in the `colloquy` schema (which version is live), the
//! projection versions each schema was built with, and the handshake by which a rebuild pauses
//! the live projector for the moment it needs both versions standing still.

use std::collections::BTreeMap;

use runtime::read_models::{META_SCHEMA, is_read_model_schema, schema_name};
use runtime::wakeup;
use sqlx::migrate::Migrator;
use sqlx::{Connection, Executor, PgPool};

/// The code version of every projection table. Bump a table's number when its projection code
/// changes what it stores: a rebuild then builds it anew and does not expect it to equal the
/// live one.
pub const PROJECTIONS: &[(&str, i32)] = &[
    // Every table a client event can reach was bumped once when an event became its id within
    // its conversation (migration 19): a history in which a client reused an id across
    // conversations builds differently from before.
    // 2: payloads are stored as their current version, and message.sent went to version 2.
    ("event_log", 3),
    // 3: the first bot response (migration 22 fills it in for conversations projected before).
    // 4: the visitor of the earliest event (migration 26 fills it in from the event log).
    // 5: first responses, handoff, resolution, reopens (migration 30 computes them).
    // 6: the detected language (migration 34; only a rebuild detects it for history).
    // 7: events in the same microsecond are ordered by id, in a batch as in Postgres
    // (an event's times are read to the microsecond): a history with such ties builds differently.
    ("conversations", 7),
    // 2: sender_id and sender_name (message.sent version 2).
    // 4: whether the message itself asked for a human (migration 30, from the event log).
    // 5: the detected language of visitors' messages (migration 34; a rebuild detects it).
    ("messages", 5),
    ("cta_clicks", 2),
    ("conversation_closes", 1),
    ("conversation_priorities", 1),
    // 3: a request id belongs to its first submission by the receive time; a submission from
    // another conversation naming it is a request of its own (migration 29).
    // 4: one request per other conversation, under an id derived from the id it named and the
    // conversation, so that its retries fold in whatever order they come (only a rebuild
    // regroups history).
    // 5: as conversations 7.
    ("contact_requests", 5),
    ("contact_request_changes", 1),
    ("message_flags", 2),
    ("websites", 1),
    ("api_tokens", 1),
    ("token_revocations", 1),
    // 3: as conversations 7 (the first event of an identity).
    ("contact_identities", 3),
    // 2 as well: what anyone submitted in an erased conversation is erased with it.
    ("contact_observations", 2),
    ("contact_edits", 1),
    ("contacts", 2),
    ("website_privacy", 1),
    ("website_reports", 1),
    ("website_time_zones", 1),
    ("website_bot_settings", 1),
    ("website_lead_keywords", 1),
    ("webhook_endpoints", 1),
    ("started_quarters", 1),
    ("visits", 1),
    ("visitor_quarters", 1),
    ("retention_cutoffs", 1),
    ("erased_customers", 1),
    ("conversation_customers", 2),
];

/// Tables in a read-model schema that are bookkeeping, not projections.
pub const BOOKKEEPING: &[&str] = &[
    "projector_offsets",
    "projection_versions",
    "_sqlx_migrations",
    // What the statistics' triggers noted, until the batch folds it in (empty between batches).
    "conversation_changes",
];

/// The migrations of the `colloquy` metadata schema (`projector/meta-migrations`), kept apart
/// from the read models' because they run once, not once per version.
pub static META_MIGRATOR: Migrator = sqlx::migrate!("./meta-migrations");

/// Creates or migrates the metadata; the first live version is `public`.
pub async fn ensure_meta(pool: &PgPool) -> Result<(), sqlx::Error> {
    // The schema first, since the migrations keep their ledger inside it. Two processes
    // starting together must not race on CREATE.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(runtime::read_models::META_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // On a connection of its own, not returned to the pool, since it leaves the search path set.
    let mut conn = pool.acquire().await?.detach();
    conn.execute(format!("SET search_path TO {META_SCHEMA}").as_str())
        .await?;
    META_MIGRATOR.run(&mut conn).await?;
    conn.close().await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Version {
    pub version: i32,
    pub schema_name: String,
    pub state: String,
}

pub async fn list(pool: &PgPool) -> Result<Vec<Version>, sqlx::Error> {
    sqlx::query_as("SELECT version, schema_name, state FROM colloquy.read_models ORDER BY version")
        .fetch_all(pool)
        .await
}

/// Registers the next version as `building` and creates its schema.
pub async fn create_next(pool: &PgPool) -> Result<Version, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(runtime::read_models::META_LOCK)
        .execute(&mut *tx)
        .await?;
    let version: i32 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 1) + 1 FROM colloquy.read_models")
            .fetch_one(&mut *tx)
            .await?;
    let schema = schema_name(version);
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO colloquy.read_models (version, schema_name, state) VALUES ($1, $2, 'building')",
    )
    .bind(version)
    .bind(&schema)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Version {
        version,
        schema_name: schema,
        state: "building".into(),
    })
}

/// Records that `schema` is built from the beginning by this code, for every projection.
pub async fn record_projection_versions(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    record(pool, schema, "").await?;
    Ok(())
}

/// Records that `schema` is built from the beginning by this code when it has applied nothing
/// yet (no stored offsets, no event): a new installation's first version. Its migrations
/// record the versions of the tables as they first were, since one that ran over history
/// cannot know; an empty one holds every table as this code will build it, so the next
/// rebuild compares them all. Answers whether it did.
pub async fn record_if_fresh(pool: &PgPool, schema: &str) -> Result<bool, sqlx::Error> {
    let condition = format!(
        "WHERE NOT EXISTS (SELECT 1 FROM \"{schema}\".projector_offsets)
           AND NOT EXISTS (SELECT 1 FROM \"{schema}\".event_log)"
    );
    Ok(record(pool, schema, &condition).await? > 0)
}

/// Records this code's version of every projection in `schema` where `condition` (a `WHERE`
/// clause, or nothing) holds; answers how many it recorded.
async fn record(pool: &PgPool, schema: &str, condition: &str) -> Result<u64, sqlx::Error> {
    let (tables, versions): (Vec<&str>, Vec<i32>) = PROJECTIONS.iter().copied().unzip();
    let recorded = sqlx::query(&format!(
        "INSERT INTO \"{schema}\".projection_versions (table_name, version)
         SELECT * FROM UNNEST($1::text[], $2::int[])
         {condition}
         ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version"
    ))
    .bind(tables)
    .bind(versions)
    .execute(pool)
    .await?;
    Ok(recorded.rows_affected())
}

pub async fn projection_versions(
    pool: &PgPool,
    schema: &str,
) -> Result<BTreeMap<String, i32>, sqlx::Error> {
    let rows: Vec<(String, i32)> = sqlx::query_as(&format!(
        "SELECT table_name, version FROM \"{schema}\".projection_versions"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Makes `version` live and retires the one that was, in one transaction, and releases the
/// live projector.
pub async fn switch_to(pool: &PgPool, version: i32) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE colloquy.read_models SET state = 'retired', retired_at = now() WHERE state = 'live'",
    )
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE colloquy.read_models SET state = 'live', activated_at = now() WHERE version = $1",
    )
    .bind(version)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE colloquy.control SET pause_requested = false")
        .execute(&mut *tx)
        .await?;
    // The projector and query-api move at once, not at their next look ([`wakeup::CONTROL`]).
    wakeup::notify(&mut *tx, wakeup::CONTROL, "").await?;
    tx.commit().await
}

pub async fn mark(pool: &PgPool, version: i32, state: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE colloquy.read_models SET state = $2 WHERE version = $1")
        .bind(version)
        .bind(state)
        .execute(pool)
        .await?;
    Ok(())
}

/// Drops the retired and failed versions: those that stopped being live (or failed) longer
/// than `kept` ago, or every one when `kept` is `None`. They hold what was true when they were
/// live, so an erasure or a retention cut applied since is not in them: an erasure drops them
/// at once, and nothing keeps them past `kept`. Answers the versions dropped.
pub async fn drop_retired(
    pool: &PgPool,
    kept: Option<std::time::Duration>,
) -> anyhow::Result<Vec<i32>> {
    let due: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM colloquy.read_models
         WHERE state IN ('retired', 'failed')
           AND ($1::float8 IS NULL
                OR COALESCE(retired_at, activated_at, created_at)
                   < now() - make_interval(secs => $1))
         ORDER BY version",
    )
    .bind(kept.map(|k| k.as_secs_f64()))
    .fetch_all(pool)
    .await?;
    let mut dropped = Vec::new();
    for version in due {
        drop_version(pool, version).await?;
        dropped.push(version);
    }
    Ok(dropped)
}

/// Drops a version that is not live.
pub async fn drop_version(pool: &PgPool, version: i32) -> anyhow::Result<()> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT schema_name, state FROM colloquy.read_models WHERE version = $1")
            .bind(version)
            .fetch_optional(pool)
            .await?;
    let Some((schema, state)) = row else {
        anyhow::bail!("there is no version {version}");
    };
    anyhow::ensure!(
        state != "live",
        "version {version} is live; switch away from it first"
    );
    anyhow::ensure!(
        is_read_model_schema(&schema),
        "not a read-model schema: {schema}"
    );
    let mut tx = pool.begin().await?;
    // A read still running in the version (an export begun before the switch) holds its
    // tables: give up rather than queue every other statement behind the drop; it is retried.
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    if schema == "public" {
        // Version 1 shares `public` with nothing else of ours: drop its tables.
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(&mut *tx)
                .await?;
        for table in tables {
            sqlx::query(&format!("DROP TABLE IF EXISTS public.\"{table}\" CASCADE"))
                .execute(&mut *tx)
                .await?;
        }
    } else {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM colloquy.read_models WHERE version = $1")
        .bind(version)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A live projector process's side of the handshake: reports it is alive (its membership,
/// which the partition leases share out by) and whether it is paused; answers whether a pause
/// is requested. Processes silent for a day are forgotten, so the table holds the live ones
/// and the recently gone, not every process that ever ran (their old leases still name them,
/// and read as a departed process's).
pub async fn heartbeat(
    pool: &PgPool,
    instance: &crate::leases::Instance,
    paused: bool,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "WITH beat AS (
            INSERT INTO colloquy.projector_instances (id, name, workers, paused)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), paused = EXCLUDED.paused),
         gone AS (
            DELETE FROM colloquy.projector_instances
            WHERE heartbeat_at < now() - interval '1 day' AND id <> $1)
         SELECT pause_requested FROM colloquy.control",
    )
    .bind(instance.id)
    .bind(&instance.name)
    .bind(instance.workers)
    .bind(paused)
    .fetch_one(pool)
    .await
}

/// The rebuild's side: asks the live projector to pause, or releases it.
pub async fn request_pause(pool: &PgPool, pause: bool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE colloquy.control SET pause_requested = $1")
        .bind(pause)
        .execute(&mut *tx)
        .await?;
    // Heard at once by the live projector ([`wakeup::CONTROL`]).
    wakeup::notify(&mut *tx, wakeup::CONTROL, "").await?;
    tx.commit().await
}

/// Whether every live projector process has paused, and whether any is running at all (a
/// heartbeat within the last `alive_s` seconds).
pub async fn live_projector(pool: &PgPool, alive_s: f64) -> Result<(bool, bool), sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(bool_and(paused), false), count(*) > 0
         FROM colloquy.projector_instances
         WHERE heartbeat_at > now() - make_interval(secs => $1)",
    )
    .bind(alive_s)
    .fetch_one(pool)
    .await
}

#[cfg(test)]
mod tests {
    /// The key store's migration creates in `colloquy` under the same lock as every other
    /// process; SQL cannot name the Rust constant, so its value is checked here.
    #[test]
    fn the_key_store_migration_takes_the_metadata_lock() {
        let migration = include_str!("../migrations/20261123000018_subject_keys.sql");
        let lock = format!("pg_advisory_xact_lock({})", runtime::read_models::META_LOCK);
        assert!(migration.contains(&lock), "{lock} not in the migration");
    }
}
