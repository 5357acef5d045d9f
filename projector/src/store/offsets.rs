//! Stored consumer positions: the next offset to read in each partition.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};

pub async fn load(pool: &PgPool, topic: &str) -> Result<HashMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT partition, next_offset FROM projector_offsets WHERE topic = $1")
            .bind(topic)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

pub async fn save(
    conn: &mut PgConnection,
    topic: &str,
    next: &[(i32, i64)],
) -> Result<(), sqlx::Error> {
    if next.is_empty() {
        return Ok(());
    }
    let (partitions, offsets): (Vec<i32>, Vec<i64>) = next.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO projector_offsets (topic, partition, next_offset)
         SELECT $1, p, o FROM UNNEST($2::int[], $3::bigint[]) AS t(p, o)
         ON CONFLICT (topic, partition)
         DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
    )
    .bind(topic)
    .bind(&partitions)
    .bind(&offsets)
    .execute(conn)
    .await?;
    Ok(())
}
