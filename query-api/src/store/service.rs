//! The figures support teams and bot owners judge by (response and resolution times, handoffs,
//! containment, satisfaction), over the conversations started in a range. Medians and 90th
//! percentiles are not sums of smaller ranges', and the outcome populations depend on the time
//! of reading (a conversation is over once silent for its website's idle minutes), so these are
//! read from the conversation rows, with the predicates of [`super::populations`].

use std::sync::LazyLock;

use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use super::populations::Population;
use super::stats::{Range, Step, bucket_format, push_bucket};

/// The populations counted here: every one but those the quarter hours hold, and the engaged
/// and rated conversations the rates divide by.
const COUNTED: [(Population, &str); 12] = [
    (Population::Engaged, "engaged"),
    (Population::Rated, "rated"),
    (Population::BotAnswered, "bot_answered"),
    (Population::AgentAnswered, "agent_answered"),
    (Population::HandoffAnswered, "handoff_answered"),
    (Population::WaitingForHuman, "waiting_for_human"),
    (Population::Contained, "contained"),
    (Population::Abandoned, "abandoned"),
    (Population::Closed, "closed"),
    (Population::Reopened, "reopened"),
    (Population::Resolved, "resolved"),
    (Population::Satisfied, "satisfied"),
];

/// The values whose median and 90th percentile are figures (`median_NAME`, `p90_NAME`), each
/// over the engaged conversations that have one (Postgres' `percentile_cont` passes over nulls,
/// so each is over the population that names the value: `bot_answered` for the bot's first
/// response, `handoff_answered` for the handoff's, `resolved` for resolution). Both fractions
/// come from one sort of each value.
const SPREADS: [(&str, &str); 6] = [
    ("bot_first_response_ms", "c.bot_first_response_ms"),
    ("agent_first_response_ms", "c.agent_first_response_ms"),
    ("handoff_response_ms", "c.handoff_response_ms"),
    ("resolution_ms", "c.resolution_ms"),
    ("messages_per_conversation", "c.message_count"),
    ("duration_ms", DURATION_MS),
];

/// A conversation's duration: from its first event to its last, in milliseconds.
const DURATION_MS: &str =
    "(extract(epoch FROM c.last_activity_at - c.first_seen_at) * 1000)::float8";

/// What the service figures of a range (or a bucket, or a channel) are made of.
#[derive(Debug, Clone, Default, PartialEq, FromRow)]
pub struct Service {
    pub engaged: i64,
    pub rated: i64,
    pub bot_answered: i64,
    pub agent_answered: i64,
    pub handoff_answered: i64,
    pub waiting_for_human: i64,
    pub contained: i64,
    pub abandoned: i64,
    pub closed: i64,
    pub reopened: i64,
    pub resolved: i64,
    pub satisfied: i64,
    /// Rated conversations by their latest rating, 1 to 5.
    pub rated_1: i64,
    pub rated_2: i64,
    pub rated_3: i64,
    pub rated_4: i64,
    pub rated_5: i64,
    pub median_bot_first_response_ms: Option<f64>,
    pub p90_bot_first_response_ms: Option<f64>,
    pub median_agent_first_response_ms: Option<f64>,
    pub p90_agent_first_response_ms: Option<f64>,
    pub median_handoff_response_ms: Option<f64>,
    pub p90_handoff_response_ms: Option<f64>,
    pub median_resolution_ms: Option<f64>,
    pub p90_resolution_ms: Option<f64>,
    pub median_messages_per_conversation: Option<f64>,
    pub p90_messages_per_conversation: Option<f64>,
    pub median_duration_ms: Option<f64>,
}

/// The aggregates of [`Service`] over `conversations c` joined as
/// [`super::days::CONVERSATIONS_ZONED`]: the counts, and each of [`SPREADS`] as an array of its
/// median and 90th percentile. [`OUTER`] names them as [`Service`] does.
pub static INNER: LazyLock<String> = LazyLock::new(|| {
    let engaged = Population::Engaged.predicate();
    COUNTED
        .iter()
        .map(|(p, name)| format!("count(*) FILTER (WHERE {}) AS {name}", p.predicate()))
        .chain((1..=5).map(|r| {
            format!(
                "count(*) FILTER (WHERE {} AND c.rating = {r}) AS rated_{r}",
                Population::Rated.predicate()
            )
        }))
        .chain(SPREADS.iter().map(|(name, value)| {
            format!(
                "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {value}) \
                 FILTER (WHERE {engaged}) AS {name}"
            )
        }))
        .collect::<Vec<_>>()
        .join(",\n       ")
});

/// The columns of [`Service`] from a row `s` of [`INNER`].
pub static OUTER: LazyLock<String> =
    LazyLock::new(|| {
        COUNTED
            .iter()
            .map(|(_, name)| format!("s.{name}"))
            .chain((1..=5).map(|r| format!("s.rated_{r}")))
            .chain(SPREADS.iter().map(|(name, _)| {
                format!("s.{name}[1] AS median_{name}, s.{name}[2] AS p90_{name}")
            }))
            .collect::<Vec<_>>()
            .join(", ")
    });

/// [`Service`] of the range.
pub async fn total(pool: &PgPool, range: &Range<'_>) -> Result<Service, sqlx::Error> {
    let mut q =
        QueryBuilder::<Postgres>::new(format!("SELECT {} FROM (SELECT {}", &*OUTER, &*INNER));
    range.push_conversations(&mut q);
    q.push(") s");
    q.build_query_as().fetch_one(pool).await
}

/// [`Service`] of each local `step` of the range that started a conversation, by bucket
/// (formatted as [`super::stats::BucketRow`]'s), and of the whole range: one read.
pub async fn series(
    pool: &PgPool,
    range: &Range<'_>,
    step: Step,
) -> Result<(Vec<(String, Service)>, Service), sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        /// `None` for the whole range.
        bucket: Option<String>,
        #[sqlx(flatten)]
        service: Service,
    }
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "SELECT s.bucket, {} FROM (SELECT to_char(",
        &*OUTER
    ));
    push_bucket(&mut q, "c.first_seen_at", range.zone, step);
    q.push(format!(
        ", '{}') AS bucket, {}",
        bucket_format(step),
        &*INNER
    ));
    range.push_conversations(&mut q);
    q.push(" GROUP BY GROUPING SETS ((1), ())) s");
    let rows: Vec<Row> = q.build_query_as().fetch_all(pool).await?;
    let mut total = Service::default();
    let mut buckets = Vec::new();
    for r in rows {
        match r.bucket {
            Some(bucket) => buckets.push((bucket, r.service)),
            None => total = r.service,
        }
    }
    Ok((buckets, total))
}
