//! Statistics over date ranges, from `daily_stats` (sums), `daily_visitors` (distinct visitors
//! over the whole range) and `conversations` (escalations).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

/// The sums a range's statistics are derived from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct Sums {
    pub widget_loads: i64,
    pub engaged_conversations: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    pub cta_clicks: i64,
    pub contact_requests: i64,
    pub bot_response_ms_sum: i64,
    pub bot_responses: i64,
    pub ratings_sum: i64,
    pub ratings_count: i64,
}

const SUMS: &str = "COALESCE(sum(widget_loads), 0)::int8 AS widget_loads,
    COALESCE(sum(engaged_conversations), 0)::int8 AS engaged_conversations,
    COALESCE(sum(user_messages), 0)::int8 AS user_messages,
    COALESCE(sum(bot_messages), 0)::int8 AS bot_messages,
    COALESCE(sum(agent_messages), 0)::int8 AS agent_messages,
    COALESCE(sum(cta_clicks), 0)::int8 AS cta_clicks,
    COALESCE(sum(contact_requests), 0)::int8 AS contact_requests,
    COALESCE(sum(bot_response_ms_sum), 0)::int8 AS bot_response_ms_sum,
    COALESCE(sum(bot_responses), 0)::int8 AS bot_responses,
    COALESCE(sum(ratings_sum), 0)::int8 AS ratings_sum,
    COALESCE(sum(ratings_count), 0)::int8 AS ratings_count";

pub async fn sums(
    pool: &PgPool,
    websites: Option<&[String]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Sums, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SUMS} FROM daily_stats
         WHERE ($1::text[] IS NULL OR website_id = ANY($1)) AND day BETWEEN $2 AND $3"
    ))
    .bind(websites)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
}

/// Visitors seen on any day of the range, each once.
pub async fn unique_visitors(
    pool: &PgPool,
    websites: Option<&[String]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT DISTINCT website_id, visitor FROM daily_visitors
         WHERE ($1::text[] IS NULL OR website_id = ANY($1)) AND day BETWEEN $2 AND $3) v",
    )
    .bind(websites)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
}

/// Conversations engaged in `[start, end)` that needed a human.
pub async fn escalated(
    pool: &PgPool,
    websites: Option<&[String]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM conversations
         WHERE ($1::text[] IS NULL OR website_id = ANY($1))
           AND engaged_at >= $2 AND engaged_at < $3 AND requires_human",
    )
    .bind(websites)
    .bind(start)
    .bind(end)
    .fetch_one(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct DayRow {
    pub day: NaiveDate,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub sums: Sums,
    pub unique_visitors: i64,
}

/// One row per day of the range, days without traffic included as zeros.
pub async fn daily(
    pool: &PgPool,
    websites: Option<&[String]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT d.day::date AS day, s.*, COALESCE(v.unique_visitors, 0)::int8 AS unique_visitors
         FROM generate_series($2::date, $3::date, interval '1 day') AS d(day)
         CROSS JOIN LATERAL (
            SELECT {SUMS} FROM daily_stats
            WHERE ($1::text[] IS NULL OR website_id = ANY($1)) AND day = d.day::date) s
         LEFT JOIN LATERAL (
            SELECT count(*) AS unique_visitors FROM daily_visitors
            WHERE ($1::text[] IS NULL OR website_id = ANY($1)) AND day = d.day::date) v ON true
         ORDER BY d.day"
    ))
    .bind(websites)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct HourRow {
    pub hour: DateTime<Utc>,
    pub widget_loads: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub cta_clicks: i64,
    pub contact_requests: i64,
}

/// Event counts per hour of `[start, end)`, from the event log.
pub async fn hourly(
    pool: &PgPool,
    websites: Option<&[String]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<HourRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT h.hour,
            count(*) FILTER (WHERE e.type = 'widget.loaded') AS widget_loads,
            count(*) FILTER (WHERE e.type = 'message.sent' AND e.payload->>'sender' = 'user') AS user_messages,
            count(*) FILTER (WHERE e.type = 'message.sent' AND e.payload->>'sender' = 'bot') AS bot_messages,
            count(*) FILTER (WHERE e.type = 'cta.clicked') AS cta_clicks,
            count(*) FILTER (WHERE e.type = 'contact.submitted') AS contact_requests
         FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour', interval '1 hour') AS h(hour)
         LEFT JOIN event_log e
           ON ($1::text[] IS NULL OR e.website_id = ANY($1))
          AND e.occurred_at >= h.hour AND e.occurred_at < h.hour + interval '1 hour'
         GROUP BY h.hour ORDER BY h.hour",
    )
    .bind(websites)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
}

/// Conversations reaching each stage of the funnel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct FunnelRow {
    pub loaded: i64,
    pub engaged: i64,
    pub cta_clicked: i64,
    pub contact_submitted: i64,
}

const FUNNEL: &str = "count(*) FILTER (WHERE loaded) AS loaded,
    count(*) FILTER (WHERE engaged) AS engaged,
    count(*) FILTER (WHERE cta_clicked) AS cta_clicked,
    count(*) FILTER (WHERE contact_submitted) AS contact_submitted";

const FUNNEL_WHERE: &str = "($1::text[] IS NULL OR website_id = ANY($1))
    AND hour >= $2 AND hour < $3 AND ($4::text IS NULL OR page_url = $4)";

pub async fn funnel(
    pool: &PgPool,
    websites: Option<&[String]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    page_url: Option<&str>,
) -> Result<FunnelRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {FUNNEL} FROM funnel_conversations WHERE {FUNNEL_WHERE}"
    ))
    .bind(websites)
    .bind(start)
    .bind(end)
    .bind(page_url)
    .fetch_one(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct FunnelPageRow {
    pub page_url: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub stages: FunnelRow,
}

/// The funnel per page the widget loaded on, busiest first.
pub async fn funnel_by_page(
    pool: &PgPool,
    websites: Option<&[String]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    page_url: Option<&str>,
) -> Result<Vec<FunnelPageRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT page_url, {FUNNEL} FROM funnel_conversations WHERE {FUNNEL_WHERE}
         GROUP BY page_url ORDER BY count(*) DESC, page_url LIMIT 500"
    ))
    .bind(websites)
    .bind(start)
    .bind(end)
    .bind(page_url)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct FunnelHourRow {
    pub hour: DateTime<Utc>,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub stages: FunnelRow,
}

/// The funnel per hour (`hour`) or day (`day`) of the range, empty buckets included.
pub async fn funnel_series(
    pool: &PgPool,
    websites: Option<&[String]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    page_url: Option<&str>,
    step: &str,
) -> Result<Vec<FunnelHourRow>, sqlx::Error> {
    let (unit, interval) = if step == "hour" {
        ("hour", "1 hour")
    } else {
        ("day", "1 day")
    };
    sqlx::query_as(&format!(
        "SELECT b.bucket AS hour,
            COALESCE(count(*) FILTER (WHERE f.loaded), 0) AS loaded,
            COALESCE(count(*) FILTER (WHERE f.engaged), 0) AS engaged,
            COALESCE(count(*) FILTER (WHERE f.cta_clicked), 0) AS cta_clicked,
            COALESCE(count(*) FILTER (WHERE f.contact_submitted), 0) AS contact_submitted
         FROM generate_series($2::timestamptz, $3::timestamptz - interval '{interval}', interval '{interval}') AS b(bucket)
         LEFT JOIN funnel_conversations f
           ON ($1::text[] IS NULL OR f.website_id = ANY($1))
          AND date_trunc('{unit}', f.hour) = b.bucket
          AND ($4::text IS NULL OR f.page_url = $4)
         GROUP BY b.bucket ORDER BY b.bucket"
    ))
    .bind(websites)
    .bind(start)
    .bind(end)
    .bind(page_url)
    .fetch_all(pool)
    .await
}
