//! The per-conversation facts support teams judge by (first responses, handoff, resolution,
//! reopens, an unanswered last message): each depends on the order of the conversation's
//! messages and closes, so migration 30's `conversation_facts_refresh` recomputes them from
//! those rows for every conversation a batch touched, after its writes. They are then a
//! function of the rows alone, whatever order the events came in. So is the conversation's
//! detected language, from its messages'.

use sqlx::PgConnection;

/// Recomputes the facts of `conversations` (`(website, conversation)`), and the detected
/// language of `spoken`, the conversations that got messages with a detected language.
pub async fn refresh(
    conn: &mut PgConnection,
    conversations: &[(String, String)],
    spoken: &[(String, String)],
) -> Result<(), sqlx::Error> {
    if !conversations.is_empty() {
        let websites = super::column(conversations, |c| c.0.as_str());
        let ids = super::column(conversations, |c| c.1.as_str());
        sqlx::query("SELECT conversation_facts_refresh($1, $2)")
            .bind(&websites)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
    }
    if spoken.is_empty() {
        return Ok(());
    }
    let websites = super::column(spoken, |c| c.0.as_str());
    let ids = super::column(spoken, |c| c.1.as_str());
    sqlx::query(&format!(
        "UPDATE conversations c SET detected_language = d.language
         FROM (SELECT k.website_id, k.conversation_id, ({DETECTED}) AS language
               FROM UNNEST($1::text[], $2::text[]) AS k(website_id, conversation_id)) d
         WHERE c.website_id = d.website_id AND c.conversation_id = d.conversation_id
           AND c.detected_language IS DISTINCT FROM d.language"
    ))
    .bind(&websites)
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The detected language of the conversation `k`: the one most of its visitor's messages were
/// detected in, the first by code on a tie.
const DETECTED: &str = "SELECT m.detected_language FROM messages m
    WHERE m.website_id = k.website_id AND m.conversation_id = k.conversation_id
      AND m.detected_language IS NOT NULL
    GROUP BY m.detected_language ORDER BY count(*) DESC, m.detected_language LIMIT 1";

/// Recomputes the facts of every conversation: after a rebuild's bulk phase.
pub async fn refresh_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT conversation_facts_refresh_all()")
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "UPDATE conversations c SET detected_language = d.language
         FROM (SELECT k.website_id, k.conversation_id, ({DETECTED}) AS language
               FROM (SELECT DISTINCT website_id, conversation_id FROM messages
                     WHERE detected_language IS NOT NULL) k) d
         WHERE c.website_id = d.website_id AND c.conversation_id = d.conversation_id
           AND c.detected_language IS DISTINCT FROM d.language"
    ))
    .execute(conn)
    .await?;
    Ok(())
}
