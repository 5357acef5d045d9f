//! What the projector's database tests share.

#![allow(dead_code)] // each test binary uses its own part

use projector::store::{Applied, Derive, MIGRATOR, apply_batch, apply_isolating};
use projector::versions::BOOKKEEPING;
use schemas::Event;
use sqlx::PgPool;

/// A new, empty, migrated database.
pub async fn fresh_pool() -> PgPool {
    let config = runtime::testing::fresh_database().await;
    let pool = runtime::testing::connect(&config).await;
    MIGRATOR.run(&pool).await.expect("migrate");
    pool
}

/// `events` as one batch read from `partition`, at offsets from 0.
pub fn on_partition(events: &[Event], partition: i32) -> Vec<Applied> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Applied {
            partition,
            offset: i as i64,
            event: e.clone(),
        })
        .collect()
}

/// Applies `events` one per transaction, in the order given: each its own batch, as they would
/// be if they arrived far apart.
pub async fn apply_one_at_a_time<'a>(pool: &PgPool, events: impl IntoIterator<Item = &'a Event>) {
    for (offset, event) in events.into_iter().enumerate() {
        let applied = Applied {
            partition: 0,
            offset: offset as i64,
            event: event.clone(),
        };
        apply_batch(pool, "t", &[applied], &[])
            .await
            .expect("apply");
    }
}

/// Every row of every table in the database, as JSON text, sorted: for comparing whole
/// databases, and for searching all of it for a value.
pub async fn every_row(pool: &PgPool, tables: &[&str]) -> Vec<String> {
    let mut rows = Vec::new();
    for table in tables {
        let mut table_rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT '{table}: ' || to_jsonb(t)::text FROM {table} t"
        ))
        .fetch_all(pool)
        .await
        .expect("read table");
        table_rows.sort();
        rows.extend(table_rows);
    }
    rows
}

/// Every row of every read-model table (not the bookkeeping: offsets, versions, migrations),
/// as [`every_row`] gives them: what two builds of the same events must agree on.
pub async fn every_read_model_row(pool: &PgPool) -> Vec<String> {
    let tables = all_tables(pool).await;
    let tables: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !BOOKKEEPING.contains(t))
        .collect();
    every_row(pool, &tables).await
}

/// The name of every table in the database.
pub async fn all_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("list tables")
}

/// Applies `first` and `second` the way two projector workers would: `first` in a transaction
/// that commits only once `second`'s, started meanwhile, has run until it waits for a lock
/// `first` holds (or finished without one). Returns how many events of each batch Postgres
/// refused.
pub async fn apply_side_by_side(
    pool: &PgPool,
    first: Vec<Applied>,
    second: Vec<Applied>,
) -> (usize, usize) {
    let applied = apply_isolating(pool.begin().await.unwrap(), "t", &first, &[], Derive::Now)
        .await
        .expect("apply the first batch");
    let first_refused = applied.refused.len();
    let other = tokio::spawn({
        let pool = pool.clone();
        async move {
            let applied =
                apply_isolating(pool.begin().await.unwrap(), "t", &second, &[], Derive::Now)
                    .await
                    .expect("apply the second batch");
            let refused = applied.refused.len();
            applied.commit().await.expect("commit the second batch");
            refused
        }
    });
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .expect("read pg_stat_activity");
        if waiting > 0 || other.is_finished() {
            break;
        }
        tokio::task::yield_now().await;
    }
    applied.commit().await.expect("commit the first batch");
    (first_refused, other.await.expect("the second batch"))
}
