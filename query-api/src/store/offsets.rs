//! The projector's position: what the read models reflect.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// One partition's stored position.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct OffsetRow {
    pub partition: i32,
    /// The offset of the next record not yet reflected.
    pub next_offset: i64,
    /// When the projector last committed a batch of this partition.
    pub updated_at: DateTime<Utc>,
}

/// Every partition's position, in partition order.
pub async fn all(pool: &PgPool) -> Result<Vec<OffsetRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT partition, next_offset, updated_at FROM projector_offsets ORDER BY partition",
    )
    .fetch_all(pool)
    .await
}
