//! Retention: raw IP addresses and message texts older than a website's latest cut-off
//! (`retention.applied`) are cleared, in the read models and in `event_log`. Cut-offs only move
//! forward and apply to rows whenever they arrive, so replay order does not matter; rows stay,
//! so counts and statistics do not change.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Which rows a scrub looks at.
pub enum Scope<'a> {
    /// Every row of these websites: their cut-off just moved.
    Websites(&'a [String]),
    /// The rows of these `(website, conversation)` pairs: a batch just wrote them.
    Conversations(&'a [(String, String)]),
    /// Every row: a rebuild's derive pass.
    All,
}

/// Records the batch's cut-offs (keeping the latest of each website) and clears what they
/// reach, then clears what the batch wrote under earlier cut-offs. `per_batch` is false during
/// a rebuild's bulk phase, which leaves the second part to [`scrub`] with [`Scope::All`].
pub async fn apply(
    conn: &mut PgConnection,
    cutoffs: &[(String, DateTime<Utc>)],
    conversations: &[(String, String)],
    per_batch: bool,
) -> Result<(), sqlx::Error> {
    if !cutoffs.is_empty() {
        let (websites, befores): (Vec<&str>, Vec<DateTime<Utc>>) =
            cutoffs.iter().map(|(w, b)| (w.as_str(), *b)).unzip();
        let moved: Vec<String> = sqlx::query_scalar(
            "INSERT INTO retention_cutoffs AS r (website_id, before)
             SELECT website_id, max(before)
             FROM UNNEST($1::text[], $2::timestamptz[]) AS c(website_id, before)
             GROUP BY website_id
             ON CONFLICT (website_id) DO UPDATE SET before = EXCLUDED.before
             WHERE EXCLUDED.before > r.before
             RETURNING website_id",
        )
        .bind(&websites)
        .bind(&befores)
        .fetch_all(&mut *conn)
        .await?;
        if !moved.is_empty() && per_batch {
            scrub(conn, Scope::Websites(&moved)).await?;
        }
    }
    if per_batch && !conversations.is_empty() {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM retention_cutoffs)")
            .fetch_one(&mut *conn)
            .await?;
        if any {
            scrub(conn, Scope::Conversations(conversations)).await?;
        }
    }
    Ok(())
}

/// Clears IP addresses and message texts older than their website's cut-off within `scope`.
pub async fn scrub(conn: &mut PgConnection, scope: Scope<'_>) -> Result<(), sqlx::Error> {
    let (websites, conversations): (Vec<String>, Vec<String>) = match &scope {
        Scope::Websites(w) => (w.to_vec(), Vec::new()),
        Scope::Conversations(c) => c.iter().cloned().unzip(),
        Scope::All => (Vec::new(), Vec::new()),
    };
    let within = |t: &str| match scope {
        Scope::Websites(_) => format!("{t}.website_id = ANY($1)"),
        Scope::Conversations(_) => format!(
            "({t}.website_id, {t}.conversation_id) IN (
                SELECT * FROM UNNEST($1::text[], $2::text[]))"
        ),
        Scope::All => "true".to_owned(),
    };
    let statements = [
        format!(
            "UPDATE messages m SET text = NULL FROM retention_cutoffs r
             WHERE m.website_id = r.website_id AND m.sent_at < r.before AND m.text IS NOT NULL
               AND {}",
            within("m")
        ),
        format!(
            "UPDATE conversations c SET ip_address = NULL FROM retention_cutoffs r
             WHERE c.website_id = r.website_id AND c.first_seen_at < r.before
               AND c.ip_address IS NOT NULL AND {}",
            within("c")
        ),
        format!(
            "UPDATE contact_requests q SET ip_address = NULL FROM retention_cutoffs r
             WHERE q.website_id = r.website_id AND q.created_at < r.before
               AND q.ip_address IS NOT NULL AND {}",
            within("q")
        ),
        format!(
            "UPDATE event_log l
             SET context = l.context - 'ip',
                 payload = CASE WHEN l.type = 'message.sent' THEN l.payload - 'text'
                                ELSE l.payload END
             FROM retention_cutoffs r
             WHERE l.website_id = r.website_id AND l.occurred_at < r.before
               AND (l.context ? 'ip' OR (l.type = 'message.sent' AND l.payload ? 'text'))
               AND {}",
            within("l")
        ),
    ];
    for statement in statements {
        let query = sqlx::query(&statement);
        let query = match scope {
            Scope::Websites(_) => query.bind(&websites),
            Scope::Conversations(_) => query.bind(&websites).bind(&conversations),
            Scope::All => query,
        };
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
