//! The per-conversation facts support teams judge by (first responses, handoff, resolution,
//! reopens, an unanswered last message): each depends on the order of the conversation's
//! messages and closes, so migration 30's `conversation_facts_refresh` recomputes them from
//! those rows for every conversation a batch touched, after its writes. They are then a
//! function of the rows alone, whatever order the events came in.

use sqlx::PgConnection;

/// Recomputes the facts of `conversations` (`(website, conversation)`).
pub async fn refresh(
    conn: &mut PgConnection,
    conversations: &[(String, String)],
) -> Result<(), sqlx::Error> {
    if conversations.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT conversation_facts_refresh($1, $2)")
        .bind(super::column(conversations, |c| c.0.as_str()))
        .bind(super::column(conversations, |c| c.1.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Recomputes the facts of every conversation: after a rebuild's bulk phase.
pub async fn refresh_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT conversation_facts_refresh_all()")
        .execute(conn)
        .await?;
    Ok(())
}
