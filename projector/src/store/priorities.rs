//! Conversation priorities, the latest change of each conversation winning.

use sqlx::PgConnection;

use crate::projections::priorities::PriorityChange;

/// The latest `(changed_at, event_id)` wins, so any order converges.
pub async fn upsert(conn: &mut PgConnection, rows: &[PriorityChange]) -> Result<(), sqlx::Error> {
    for p in rows {
        sqlx::query(
            "INSERT INTO conversation_priorities AS p
                 (website_id, conversation_id, priority, changed_at, event_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (website_id, conversation_id) DO UPDATE SET
                priority = EXCLUDED.priority,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (p.changed_at, p.event_id)",
        )
        .bind(&p.website_id)
        .bind(&p.conversation_id)
        .bind(p.priority)
        .bind(p.changed_at)
        .bind(p.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
