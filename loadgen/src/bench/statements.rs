//! Where Postgres spends a phase, statement by statement: `pg_stat_statements` (which
//! `deploy/dev bench` loads into its Postgres) is reset before the phase and read after it.
//! The report divides each statement's execution time, WAL and blocks by the phase's units.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// How many statements a phase keeps, by execution time.
const KEPT: i64 = 15;

/// One normalised statement's work over a phase.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Statement {
    /// The statement, whitespace collapsed, cut to a line.
    pub query: String,
    pub calls: i64,
    pub rows: i64,
    /// Execution time, planning excluded (wall time inside Postgres, not CPU).
    pub exec_ms: f64,
    pub plan_ms: f64,
    pub blocks_hit: i64,
    pub blocks_read: i64,
    pub blocks_dirtied: i64,
    pub blocks_written: i64,
    pub wal_records: i64,
    /// Whole pages written to the WAL: a page's first change after a checkpoint.
    pub wal_fpi: i64,
    pub wal_bytes: f64,
}

/// Loads the extension (the bench's Postgres preloads its library). A Postgres without it only
/// loses the per-statement table.
pub async fn enable(pool: &PgPool) {
    if let Err(error) = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await
    {
        eprintln!("no per-statement figures: {error}");
    }
}

pub async fn reset(pool: &PgPool) {
    let _ = sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(pool)
        .await;
}

/// The statements of this database since [`reset`], the costliest first; empty without the
/// extension.
pub async fn read(pool: &PgPool) -> Vec<Statement> {
    sqlx::query_as(
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 200) AS query, calls, rows,
                total_exec_time AS exec_ms, total_plan_time AS plan_ms,
                shared_blks_hit AS blocks_hit, shared_blks_read AS blocks_read,
                shared_blks_dirtied AS blocks_dirtied, shared_blks_written AS blocks_written,
                wal_records, wal_fpi, wal_bytes::float8 AS wal_bytes
         FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND query NOT LIKE '%pg_stat_statements%'
         ORDER BY total_exec_time DESC LIMIT $1",
    )
    .bind(KEPT)
    .fetch_all(pool)
    .await
    .unwrap_or_else(|error| {
        eprintln!("no per-statement figures for this phase: {error}");
        Vec::new()
    })
}
