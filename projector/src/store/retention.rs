//! Retention: raw IP addresses and message texts older than a website's latest cut-off
//! (`retention.applied`) are cleared, in the read models and in `event_log`. Cut-offs only move
//! forward and apply to rows whenever they arrive, so replay order does not matter; rows stay,
//! so counts and statistics do not change.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::websites::RetentionCutoff;

/// Which rows a scrub looks at.
pub enum Scope<'a> {
    /// A website whose cut-off just moved: its rows from the previous cut-off (`since`; none
    /// for its first) to the new one. What lies before the previous one was cleared when that
    /// one came, or by [`Scope::Batch`] when it arrived later.
    Website {
        website_id: &'a str,
        since: Option<DateTime<Utc>>,
    },
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
    /// Its new events (and so its new messages, sent when their event occurred).
    pub events: Vec<WrittenEvent>,
    pub conversations: Vec<(String, String)>,
    pub requests: Vec<(String, String)>,
}

/// An event of [`Written`]: what decides whether a cut-off reaches it.
#[derive(Debug, Clone)]
pub struct WrittenEvent {
    pub event_id: Uuid,
    pub website_id: String,
    pub occurred_at: DateTime<Utc>,
}

impl Written {
    /// What of it the websites' `cutoffs` can reach: the events (and messages) that occurred
    /// before their website's cut-off, the conversations and requests of websites with one.
    /// Events arrive mostly long after any cut-off, so most batches are left with no events,
    /// and their scrub looks nothing up by event id (a lookup per event, otherwise).
    fn reachable(&self, cutoffs: &HashMap<String, DateTime<Utc>>) -> Written {
        let has = |website: &str| cutoffs.contains_key(website);
        Written {
            events: self
                .events
                .iter()
                .filter(|e| {
                    cutoffs
                        .get(&e.website_id)
                        .is_some_and(|b| e.occurred_at < *b)
                })
                .cloned()
                .collect(),
            conversations: self
                .conversations
                .iter()
                .filter(|(w, _)| has(w))
                .cloned()
                .collect(),
            requests: self
                .requests
                .iter()
                .filter(|(w, _)| has(w))
                .cloned()
                .collect(),
        }
    }
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
        // The websites whose cut-off moved, with the one before (both CTEs read the same
        // snapshot, so `previous` has the rows as they were before the upsert).
        let moved: Vec<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
            "WITH previous AS (
                 SELECT website_id, before FROM retention_cutoffs WHERE website_id = ANY($1)),
             moved AS (
                 INSERT INTO retention_cutoffs AS r (website_id, before)
                 SELECT website_id, max(before)
                 FROM UNNEST($1::text[], $2::timestamptz[]) AS c(website_id, before)
                 GROUP BY website_id
                 ON CONFLICT (website_id) DO UPDATE SET before = EXCLUDED.before
                 WHERE EXCLUDED.before > r.before
                 RETURNING website_id)
             SELECT m.website_id, p.before FROM moved m LEFT JOIN previous p USING (website_id)
             ORDER BY m.website_id",
        )
        .bind(&websites)
        .bind(&befores)
        .fetch_all(&mut *conn)
        .await?;
        if per_batch {
            for (website_id, since) in &moved {
                let scope = Scope::Website {
                    website_id,
                    since: *since,
                };
                scrub(conn, scope).await?;
            }
        }
    }
    if per_batch && !written.events.is_empty() {
        let websites: Vec<&str> = written
            .events
            .iter()
            .map(|e| e.website_id.as_str())
            .chain(written.conversations.iter().map(|(w, _)| w.as_str()))
            .chain(written.requests.iter().map(|(w, _)| w.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let cutoffs: HashMap<String, DateTime<Utc>> = sqlx::query_as(
            "SELECT website_id, before FROM retention_cutoffs WHERE website_id = ANY($1)",
        )
        .bind(&websites)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        if !cutoffs.is_empty() {
            scrub(conn, Scope::Batch(&written.reachable(&cutoffs))).await?;
        }
    }
    Ok(())
}

/// Clears IP addresses and message texts older than their website's cut-off within `scope`.
pub async fn scrub(conn: &mut PgConnection, scope: Scope<'_>) -> Result<(), sqlx::Error> {
    // How `scope` narrows each table: `$1` the website and `$2` the previous cut-off; for a
    // batch, `$1` event ids, or `$1`/`$2` the (website, conversation) or (website, request)
    // pairs. A website's scrub names `r`'s row itself: when `retention_cutoffs` is new to the
    // planner's statistics, a join from the table side would read every row of the website.
    let within = |table: &str, alias: &str, time: &str| -> String {
        match (&scope, table) {
            (Scope::Website { .. }, _) => format!(
                "r.website_id = $1 AND {alias}.website_id = $1
                 AND {alias}.{time} >= COALESCE($2, '-infinity'::timestamptz)"
            ),
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
            "sent_at",
        ),
        (
            "conversations",
            "UPDATE conversations c SET ip_address = NULL FROM retention_cutoffs r
             WHERE c.website_id = r.website_id AND c.first_seen_at < r.before
               AND c.ip_address IS NOT NULL AND ",
            "c",
            "first_seen_at",
        ),
        (
            "contact_requests",
            "UPDATE contact_requests q SET ip_address = NULL FROM retention_cutoffs r
             WHERE q.website_id = r.website_id AND q.created_at < r.before
               AND q.ip_address IS NOT NULL AND ",
            "q",
            "created_at",
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
            "occurred_at",
        ),
    ];
    let pairs =
        |p: &[(String, String)]| -> (Vec<String>, Vec<String>) { p.iter().cloned().unzip() };
    for (table, update, alias, time) in statements {
        if let Scope::Batch(written) = &scope {
            let empty = match table {
                "messages" | "event_log" => written.events.is_empty(),
                "conversations" => written.conversations.is_empty(),
                _ => written.requests.is_empty(),
            };
            if empty {
                continue;
            }
        }
        let sql = format!("{update}{}", within(table, alias, time));
        let query = sqlx::query(&sql);
        let query = match (&scope, table) {
            (Scope::Website { website_id, since }, _) => query.bind(*website_id).bind(*since),
            (Scope::All, _) => query,
            (Scope::Batch(written), "messages" | "event_log") => query.bind(
                written
                    .events
                    .iter()
                    .map(|e| e.event_id)
                    .collect::<Vec<_>>(),
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(website: &str, occurred_at: &str) -> WrittenEvent {
        WrittenEvent {
            event_id: Uuid::new_v4(),
            website_id: website.to_owned(),
            occurred_at: occurred_at.parse().unwrap(),
        }
    }

    fn pair(website: &str, id: &str) -> (String, String) {
        (website.to_owned(), id.to_owned())
    }

    #[test]
    fn a_batch_scrub_reaches_only_what_is_older_than_its_websites_cut_off() {
        let old = event("cut", "2026-08-24T23:59:59Z");
        let written = Written {
            events: vec![
                old.clone(),
                // The cut-off itself is kept, as the scrub's `< before` keeps it.
                event("cut", "2026-08-25T00:00:00Z"),
                event("cut", "2026-12-01T10:00:00Z"),
                // Older still, but its website has no cut-off.
                event("uncut", "2025-01-01T00:00:00Z"),
            ],
            conversations: vec![pair("cut", "c1"), pair("uncut", "c2")],
            requests: vec![pair("uncut", "r1"), pair("cut", "r2")],
        };
        let cutoffs = HashMap::from([("cut".to_owned(), "2026-08-25T00:00:00Z".parse().unwrap())]);
        let reachable = written.reachable(&cutoffs);
        let ids: Vec<Uuid> = reachable.events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, vec![old.event_id]);
        assert_eq!(reachable.conversations, vec![pair("cut", "c1")]);
        assert_eq!(reachable.requests, vec![pair("cut", "r2")]);
        assert!(written.reachable(&HashMap::new()).events.is_empty());
    }
}
