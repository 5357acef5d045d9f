//! Retention: raw IP addresses and message texts older than a website's latest cut-off
//! (`retention.applied`) are cleared, in the read models and in `event_log`. Cut-offs only move
//! forward and apply to rows whenever they arrive, so replay order does not matter; rows stay,
//! so counts and statistics do not change.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::websites::RetentionCutoff;

/// Which rows a scrub looks at.
pub enum Scope<'a> {
    /// Every row of these websites: their cut-off just moved.
    Websites(&'a [String]),
    /// What a batch just wrote: its events (`event_log`, `messages`), the conversations they
    /// belong to and the requests they submitted. Every lookup is by primary key, so a batch
    /// pays in proportion to itself, not to the tables.
    Batch(&'a Written),
    /// Every row: a rebuild's derive pass.
    All,
}

/// The rows one batch wrote.
#[derive(Debug, Default)]
pub struct Written {
    pub events: Vec<Uuid>,
    pub conversations: Vec<(String, String)>,
    pub requests: Vec<(String, String)>,
}

/// Records the batch's cut-offs (keeping the latest of each website) and clears what they
/// reach, then clears what the batch wrote under earlier cut-offs. `per_batch` is false during
/// a rebuild's bulk phase, which leaves the second part to [`scrub`] with [`Scope::All`].
pub async fn apply(
    conn: &mut PgConnection,
    cutoffs: &[RetentionCutoff],
    written: &Written,
    per_batch: bool,
) -> Result<(), sqlx::Error> {
    if !cutoffs.is_empty() {
        let (websites, befores): (Vec<&str>, Vec<DateTime<Utc>>) = cutoffs
            .iter()
            .map(|c| (c.website_id.as_str(), c.before))
            .unzip();
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
    if per_batch && !written.events.is_empty() {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM retention_cutoffs)")
            .fetch_one(&mut *conn)
            .await?;
        if any {
            scrub(conn, Scope::Batch(written)).await?;
        }
    }
    Ok(())
}

/// Clears IP addresses and message texts older than their website's cut-off within `scope`.
pub async fn scrub(conn: &mut PgConnection, scope: Scope<'_>) -> Result<(), sqlx::Error> {
    // How `scope` narrows each table: `$1` websites; for a batch, `$1` event ids, or `$1`/`$2`
    // the (website, conversation) or (website, request) pairs.
    let within = |table: &str, alias: &str| -> String {
        match (&scope, table) {
            (Scope::Websites(_), _) => format!("{alias}.website_id = ANY($1)"),
            (Scope::All, _) => "true".to_owned(),
            (Scope::Batch(_), "messages" | "event_log") => format!("{alias}.event_id = ANY($1)"),
            (Scope::Batch(_), "conversations") => format!(
                "({alias}.website_id, {alias}.conversation_id) IN (
                    SELECT * FROM UNNEST($1::text[], $2::text[]))"
            ),
            (Scope::Batch(_), _) => format!(
                "({alias}.website_id, {alias}.request_id) IN (
                    SELECT * FROM UNNEST($1::text[], $2::text[]))"
            ),
        }
    };
    let statements = [
        (
            "messages",
            "UPDATE messages m SET text = NULL FROM retention_cutoffs r
             WHERE m.website_id = r.website_id AND m.sent_at < r.before AND m.text IS NOT NULL
               AND ",
            "m",
        ),
        (
            "conversations",
            "UPDATE conversations c SET ip_address = NULL FROM retention_cutoffs r
             WHERE c.website_id = r.website_id AND c.first_seen_at < r.before
               AND c.ip_address IS NOT NULL AND ",
            "c",
        ),
        (
            "contact_requests",
            "UPDATE contact_requests q SET ip_address = NULL FROM retention_cutoffs r
             WHERE q.website_id = r.website_id AND q.created_at < r.before
               AND q.ip_address IS NOT NULL AND ",
            "q",
        ),
        (
            "event_log",
            "UPDATE event_log l
             SET context = l.context - 'ip',
                 payload = CASE WHEN l.type = 'message.sent' THEN l.payload - 'text'
                                ELSE l.payload END
             FROM retention_cutoffs r
             WHERE l.website_id = r.website_id AND l.occurred_at < r.before
               AND (l.context ? 'ip' OR (l.type = 'message.sent' AND l.payload ? 'text'))
               AND ",
            "l",
        ),
    ];
    let pairs =
        |p: &[(String, String)]| -> (Vec<String>, Vec<String>) { p.iter().cloned().unzip() };
    for (table, update, alias) in statements {
        let sql = format!("{update}{}", within(table, alias));
        let query = sqlx::query(&sql);
        let query = match (&scope, table) {
            (Scope::Websites(websites), _) => query.bind(websites.to_vec()),
            (Scope::All, _) => query,
            (Scope::Batch(written), "messages" | "event_log") => query.bind(written.events.clone()),
            (Scope::Batch(written), "conversations") => {
                let (websites, conversations) = pairs(&written.conversations);
                query.bind(websites).bind(conversations)
            }
            (Scope::Batch(written), _) => {
                let (websites, requests) = pairs(&written.requests);
                query.bind(websites).bind(requests)
            }
        };
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
