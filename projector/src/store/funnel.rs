//! The engagement funnel (`funnel_conversations`): for every conversation a batch touched, the
//! stages it has reached, from its converged `conversations` row and its contact submissions. A function
//! of those rows alone, so it converges whatever order events arrive in.

use sqlx::PgConnection;

pub async fn refresh(
    conn: &mut PgConnection,
    conversations: &[(String, String)],
) -> Result<(), sqlx::Error> {
    if conversations.is_empty() {
        return Ok(());
    }
    let (websites, ids): (Vec<&str>, Vec<&str>) = conversations
        .iter()
        .map(|(w, c)| (w.as_str(), c.as_str()))
        .unzip();
    sqlx::query(&format!(
        "{UPSERT_FROM}
         JOIN UNNEST($1::text[], $2::text[]) AS t(website_id, conversation_id)
           USING (website_id, conversation_id)
         {ON_CONFLICT}"
    ))
    .bind(websites)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The funnel row of every conversation: after a rebuild's bulk phase.
pub async fn refresh_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("{UPSERT_FROM} {ON_CONFLICT}"))
        .execute(conn)
        .await?;
    Ok(())
}

const UPSERT_FROM: &str =
    "INSERT INTO funnel_conversations AS f (website_id, conversation_id, hour, page_url,
                loaded, engaged, cta_clicked, contact_submitted)
         SELECT c.website_id, c.conversation_id,
                date_trunc('hour', COALESCE(c.widget_loaded_at, c.first_seen_at)),
                COALESCE(c.page_url, ''),
                c.widget_loaded_at IS NOT NULL, c.engaged_at IS NOT NULL, c.cta_clicks > 0,
                -- Submissions, not requests: a request whose id was reused moves to the
                -- conversation of its earliest submission, a submission never moves.
                EXISTS (SELECT 1 FROM contact_observations o
                        WHERE o.website_id = c.website_id AND o.conversation_id = c.conversation_id)
         FROM conversations c";

const ON_CONFLICT: &str = "ON CONFLICT (website_id, conversation_id) DO UPDATE SET
            hour = EXCLUDED.hour, page_url = EXCLUDED.page_url, loaded = EXCLUDED.loaded,
            engaged = EXCLUDED.engaged, cta_clicked = EXCLUDED.cta_clicked,
            contact_submitted = EXCLUDED.contact_submitted
         WHERE (f.hour, f.page_url, f.loaded, f.engaged, f.cta_clicked, f.contact_submitted)
               IS DISTINCT FROM (EXCLUDED.hour, EXCLUDED.page_url, EXCLUDED.loaded,
                                 EXCLUDED.engaged, EXCLUDED.cta_clicked, EXCLUDED.contact_submitted)";
