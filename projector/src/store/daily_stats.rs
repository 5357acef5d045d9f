//! Daily statistics: event counters, engagement days and first sightings of visitors, added to
//! `daily_stats` in one statement per batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use schemas::Event;
use sqlx::PgConnection;

use crate::projections::ConversationDelta;
use crate::projections::daily_stats::{DailyDelta, DayKey, day, fold, visitor};
use crate::store::column;

type ConversationKey = (String, String);

/// The stored engagement time of each conversation in `deltas`, before this batch changes it.
/// Locks those rows until the batch commits.
pub async fn engaged_before(
    conn: &mut PgConnection,
    deltas: &[ConversationDelta],
) -> Result<HashMap<ConversationKey, Option<DateTime<Utc>>>, sqlx::Error> {
    if deltas.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT c.website_id, c.conversation_id, c.engaged_at
         FROM conversations c
         JOIN UNNEST($1::text[], $2::text[]) AS k(website_id, conversation_id)
           ON c.website_id = k.website_id AND c.conversation_id = k.conversation_id
         ORDER BY c.website_id, c.conversation_id
         FOR UPDATE OF c",
    )
    .bind(column(deltas, |d| d.website_id.as_str()))
    .bind(column(deltas, |d| d.conversation_id.as_str()))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(w, c, e)| ((w, c), e)).collect())
}

/// Adds what `new_events` and the conversations' engagement moves contribute to each day.
pub async fn add(
    conn: &mut PgConnection,
    new_events: &[&Event],
    deltas: &[ConversationDelta],
    engaged_before: &HashMap<ConversationKey, Option<DateTime<Utc>>>,
) -> Result<(), sqlx::Error> {
    let mut days = fold(new_events.iter().copied());

    // A conversation counts as engaged on the day of its earliest engagement; an earlier
    // engagement arriving late moves it from one day to another.
    for d in deltas {
        let key = (d.website_id.clone(), d.conversation_id.clone());
        let old = engaged_before.get(&key).copied().flatten();
        let new = match (old, d.engaged_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if old != new {
            if let Some(old) = old {
                days.entry((d.website_id.clone(), day(old)))
                    .or_default()
                    .engaged_conversations -= 1;
            }
            if let Some(new) = new {
                days.entry((d.website_id.clone(), day(new)))
                    .or_default()
                    .engaged_conversations += 1;
            }
        }
    }

    let visits: BTreeSet<(String, NaiveDate, String)> = new_events
        .iter()
        .filter_map(|e| visitor(e).map(|v| (e.website_id.clone(), day(e.occurred_at), v)))
        .collect();
    for key in first_sightings(conn, &visits).await? {
        days.entry(key).or_default().unique_visitors += 1;
    }
    upsert(conn, &days).await
}

/// Records the visits and returns the `(website, day)` of each visitor not seen that day before.
async fn first_sightings(
    conn: &mut PgConnection,
    visits: &BTreeSet<(String, NaiveDate, String)>,
) -> Result<Vec<DayKey>, sqlx::Error> {
    if visits.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "INSERT INTO daily_visitors (website_id, day, visitor)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[])
         ON CONFLICT DO NOTHING
         RETURNING website_id, day",
    )
    .bind(visits.iter().map(|v| v.0.as_str()).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.1).collect::<Vec<_>>())
    .bind(visits.iter().map(|v| v.2.as_str()).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
}

async fn upsert(
    conn: &mut PgConnection,
    days: &BTreeMap<DayKey, DailyDelta>,
) -> Result<(), sqlx::Error> {
    if days.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&DailyDelta) -> i64| days.values().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO daily_stats AS s (website_id, day, widget_loads, engaged_conversations, user_messages,
                bot_messages, agent_messages, cta_clicks, contact_requests, unique_visitors,
                bot_response_ms_sum, bot_responses, ratings_sum, ratings_count)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                              $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
                              $12::bigint[], $13::bigint[], $14::bigint[])
         ON CONFLICT (website_id, day) DO UPDATE SET
            widget_loads = s.widget_loads + EXCLUDED.widget_loads,
            engaged_conversations = s.engaged_conversations + EXCLUDED.engaged_conversations,
            user_messages = s.user_messages + EXCLUDED.user_messages,
            bot_messages = s.bot_messages + EXCLUDED.bot_messages,
            agent_messages = s.agent_messages + EXCLUDED.agent_messages,
            cta_clicks = s.cta_clicks + EXCLUDED.cta_clicks,
            contact_requests = s.contact_requests + EXCLUDED.contact_requests,
            unique_visitors = s.unique_visitors + EXCLUDED.unique_visitors,
            bot_response_ms_sum = s.bot_response_ms_sum + EXCLUDED.bot_response_ms_sum,
            bot_responses = s.bot_responses + EXCLUDED.bot_responses,
            ratings_sum = s.ratings_sum + EXCLUDED.ratings_sum,
            ratings_count = s.ratings_count + EXCLUDED.ratings_count",
    )
    .bind(days.keys().map(|(w, _)| w.as_str()).collect::<Vec<_>>())
    .bind(days.keys().map(|(_, d)| *d).collect::<Vec<_>>())
    .bind(col(|d| d.widget_loads))
    .bind(col(|d| d.engaged_conversations))
    .bind(col(|d| d.user_messages))
    .bind(col(|d| d.bot_messages))
    .bind(col(|d| d.agent_messages))
    .bind(col(|d| d.cta_clicks))
    .bind(col(|d| d.contact_requests))
    .bind(col(|d| d.unique_visitors))
    .bind(col(|d| d.bot_response_ms_sum))
    .bind(col(|d| d.bot_responses))
    .bind(col(|d| d.ratings_sum))
    .bind(col(|d| d.ratings_count))
    .execute(conn)
    .await?;
    Ok(())
}
