//! Parity between two versions of the read models: row counts and content checksums per
//! table, and the differing rows when they disagree.

use sqlx::PgPool;

use crate::versions::{self, BOOKKEEPING};

/// One table compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: String,
    /// Both versions built it from the beginning with the same projection code, so they must
    /// agree; otherwise it is listed but not compared.
    pub compared: bool,
    pub live_rows: i64,
    pub new_rows: i64,
    pub equal: bool,
}

/// Row count and an order-independent checksum of every row's full text; the count alone (and
/// an empty checksum) unless `hashed`.
pub async fn checksum(
    pool: &PgPool,
    schema: &str,
    table: &str,
    hashed: bool,
) -> Result<(i64, String), sqlx::Error> {
    if !hashed {
        let rows = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{schema}\".\"{table}\""))
            .fetch_one(pool)
            .await?;
        return Ok((rows, String::new()));
    }
    // The sum of the rows' 64-bit hashes: the same for the same rows in any order, and for
    // different rows only by a chance of one in 2^64. Unlike an `md5` of the sorted `md5`s it
    // needs no sort and no cryptographic hash, which took most of a parity check's time
    // (docs/operations.md, "Rebuilds, new projections, dead letters").
    sqlx::query_as(&format!(
        "SELECT count(*), COALESCE(sum(hashtextextended(t::text, 0)), 0)::text
         FROM \"{schema}\".\"{table}\" t"
    ))
    .fetch_one(pool)
    .await
}

/// The projection tables of a schema.
pub async fn tables(pool: &PgPool, schema: &str) -> Result<Vec<String>, sqlx::Error> {
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    Ok(all
        .into_iter()
        .filter(|t| !BOOKKEEPING.contains(&t.as_str()))
        .collect())
}

/// Compares every projection table of `new` with `live`.
pub async fn compare(pool: &PgPool, live: &str, new: &str) -> Result<Vec<TableCheck>, sqlx::Error> {
    let live_versions = versions::projection_versions(pool, live).await?;
    let new_versions = versions::projection_versions(pool, new).await?;
    let live_tables = tables(pool, live).await?;
    let mut checks = Vec::new();
    for table in tables(pool, new).await? {
        let compared = live_tables.contains(&table)
            && live_versions.contains_key(&table)
            && live_versions.get(&table) == new_versions.get(&table);
        // Both sides at once, on two connections: hashing every row's text is CPU-bound and
        // the machine has more than one core. A table not compared is only counted.
        let live_side = async {
            if live_tables.contains(&table) {
                checksum(pool, live, &table, compared).await
            } else {
                Ok((0, String::new()))
            }
        };
        let ((new_rows, new_sum), (live_rows, live_sum)) =
            tokio::try_join!(checksum(pool, new, &table, compared), live_side)?;
        checks.push(TableCheck {
            equal: !compared || (live_rows == new_rows && live_sum == new_sum),
            table,
            compared,
            live_rows,
            new_rows,
        });
    }
    Ok(checks)
}

/// Up to `limit` rows of `table` in schema `a` that schema `b` does not have, as JSON.
pub async fn rows_only_in(
    pool: &PgPool,
    a: &str,
    b: &str,
    table: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT to_jsonb(x)::text FROM (
            SELECT * FROM \"{a}\".\"{table}\" EXCEPT ALL SELECT * FROM \"{b}\".\"{table}\") x
         LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}
