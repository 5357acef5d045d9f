//! The statistics' quarter hours (`started_quarters`, `visits`, `visitor_quarters`): triggers
//! on `conversations` note every changed row, and [`flush`] folds them in before the batch
//! commits, so the quarter hours equal an aggregate of the rows (migration 27 defines them). A
//! rebuild turns the triggers off for its bulk phase and recomputes the quarter hours once,
//! from the finished rows.

use sqlx::{PgConnection, PgPool};

/// Turns the triggers off until [`refresh`]: for a bulk load, where applying them statement by
/// statement would cost more than computing the result once, and for whole-table updates.
pub async fn pause(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("ALTER TABLE conversations DISABLE TRIGGER USER")
        .execute(pool)
        .await?;
    Ok(())
}

/// Recomputes the quarter hours from every conversation row and turns the triggers back on.
pub async fn refresh(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT statistics_refresh()")
        .execute(conn)
        .await?;
    Ok(())
}

/// Folds the conversation rows this transaction changed into the quarter hours. Runs behind the
/// derive lock: a visitor's visits in several partitions are then counted one batch after the
/// other, and no two batches wait on each other's quarter hours.
pub async fn flush(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT statistics_flush()")
        .execute(conn)
        .await?;
    Ok(())
}
