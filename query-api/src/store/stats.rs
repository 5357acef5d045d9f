//! Statistics over ranges of a website's days, read from `conversations`: every figure counts
//! the conversations started in the range (or sums over them) as [`super::populations`]
//! defines, placed on days in the website's time zone (or the request's).

use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use super::populations::{CONVERSATIONS_ZONED, Population, Zone, push_local, push_started};

/// What a range's statistics are derived from: the size of every population, and sums over
/// the conversations started in the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct Counts {
    pub conversations: i64,
    pub loaded_conversations: i64,
    pub engaged_conversations: i64,
    pub loaded_engaged_conversations: i64,
    pub engaged_without_load: i64,
    pub cta_conversations: i64,
    pub contact_conversations: i64,
    pub escalated_conversations: i64,
    pub rated_conversations: i64,
    pub unique_visitors: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    /// Messages of the engaged conversations, for messages per engaged conversation.
    pub engaged_messages: i64,
    pub cta_clicks: i64,
    pub bot_response_ms_sum: i64,
    pub bot_responses: i64,
    pub ratings_sum: i64,
}

impl Counts {
    /// The size of `population`.
    pub fn of(&self, population: Population) -> i64 {
        match population {
            Population::Started => self.conversations,
            Population::Loaded => self.loaded_conversations,
            Population::Engaged => self.engaged_conversations,
            Population::LoadedEngaged => self.loaded_engaged_conversations,
            Population::EngagedWithoutLoad => self.engaged_without_load,
            Population::CtaClicked => self.cta_conversations,
            Population::ContactSubmitted => self.contact_conversations,
            Population::Escalated => self.escalated_conversations,
            Population::Rated => self.rated_conversations,
        }
    }
}

/// The column of [`Counts`] that holds each population's size.
fn population_column(p: Population) -> &'static str {
    match p {
        Population::Started => "conversations",
        Population::Loaded => "loaded_conversations",
        Population::Engaged => "engaged_conversations",
        Population::LoadedEngaged => "loaded_engaged_conversations",
        Population::EngagedWithoutLoad => "engaged_without_load",
        Population::CtaClicked => "cta_conversations",
        Population::ContactSubmitted => "contact_conversations",
        Population::Escalated => "escalated_conversations",
        Population::Rated => "rated_conversations",
    }
}

/// Every column of [`Counts`] as an aggregate over `conversations c`.
static COUNTS: LazyLock<String> = LazyLock::new(|| {
    let mut columns: Vec<String> = Population::ALL
        .iter()
        .map(|p| {
            format!(
                "count(*) FILTER (WHERE {}) AS {}",
                p.predicate(),
                population_column(*p)
            )
        })
        .collect();
    // A visitor is ingest's hash of who they are, else the website's customer id, else the
    // conversation itself (as unique visitors counted before conversations kept it).
    columns.push(
        "count(DISTINCT c.website_id || ' ' || COALESCE('v:' || c.visitor, 'c:' || c.customer_id,
                                                      'k:' || c.conversation_id)) AS unique_visitors"
            .into(),
    );
    let engaged = Population::Engaged.predicate();
    for (name, sum) in [
        ("user_messages", "c.user_messages".to_owned()),
        ("bot_messages", "c.bot_messages".to_owned()),
        ("agent_messages", "c.agent_messages".to_owned()),
        (
            "engaged_messages",
            format!("c.message_count) FILTER (WHERE {engaged}"),
        ),
        ("cta_clicks", "c.cta_clicks".to_owned()),
        ("bot_response_ms_sum", "c.bot_response_ms_sum".to_owned()),
        ("bot_responses", "c.bot_responses".to_owned()),
        ("ratings_sum", "c.rating".to_owned()),
    ] {
        columns.push(format!("COALESCE(sum({sum}), 0)::int8 AS {name}"));
    }
    columns.join(",\n       ")
});

/// The conversations a statistic reads: those of `websites` (every website when `None`)
/// started on a day of `[from, to]` in `zone`, on `page_url` when given.
#[derive(Debug, Clone, Copy)]
pub struct Range<'a> {
    pub websites: Option<&'a [String]>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub zone: &'a Zone,
    pub page_url: Option<&'a str>,
}

impl Range<'_> {
    /// Appends `FROM … WHERE …` selecting them.
    fn push(&self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push(format!(" FROM {CONVERSATIONS_ZONED} WHERE true"));
        if let Some(w) = self.websites {
            super::push_websites(q, "c.website_id", w);
        }
        push_started(q, self.from, self.to, self.zone);
        if let Some(page) = self.page_url {
            q.push(" AND COALESCE(c.page_url, '') = ")
                .push_bind(page.to_owned());
        }
    }
}

/// The figures of the conversations of `range`.
pub async fn counts(pool: &PgPool, range: &Range<'_>) -> Result<Counts, sqlx::Error> {
    let mut q = QueryBuilder::new(format!("SELECT {}", &*COUNTS));
    range.push(&mut q);
    q.build_query_as().fetch_one(pool).await
}

/// The figures of one bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct BucketRow {
    /// The local day (`YYYY-MM-DD`) or hour (`YYYY-MM-DDTHH:00`) in the website's zone.
    pub bucket: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub counts: Counts,
}

/// How a series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Day,
    Hour,
}

impl Step {
    /// The name of a series row's bucket, and of the interval.
    pub fn key(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Hour => "hour",
        }
    }
}

/// The figures of every local day (or hour) of `[from, to]` that started a conversation, in
/// order; the caller fills in the empty ones. Each conversation is on exactly one day, so the
/// days' counts add up to the range's.
pub async fn series(
    pool: &PgPool,
    range: &Range<'_>,
    step: Step,
) -> Result<Vec<BucketRow>, sqlx::Error> {
    let format = match step {
        Step::Day => "YYYY-MM-DD",
        Step::Hour => "YYYY-MM-DD\"T\"HH24:00",
    };
    let mut q = QueryBuilder::new("SELECT to_char(");
    push_local(&mut q, "first_seen_at", range.zone);
    q.push(format!(", '{format}') AS bucket, {}", &*COUNTS));
    range.push(&mut q);
    q.push(" GROUP BY 1 ORDER BY 1");
    q.build_query_as().fetch_all(pool).await
}

/// The figures of the conversations started on `[from, to]` by the page their widget loaded
/// on (`""` when it never loaded), busiest first.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct PageRow {
    pub page_url: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub counts: Counts,
}

pub async fn by_page(
    pool: &PgPool,
    range: &Range<'_>,
    limit: i64,
) -> Result<Vec<PageRow>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!(
        "SELECT COALESCE(c.page_url, '') AS page_url, {}",
        &*COUNTS
    ));
    range.push(&mut q);
    q.push(" GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

/// Engaged conversations and their messages under one value of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ShareRow {
    /// The channel or device; `unknown` when the conversation's context named none.
    pub key: String,
    pub conversations: i64,
    pub messages: i64,
}

/// The engaged conversations started on `[from, to]` by channel and by device, busiest first;
/// one scan groups both ways.
pub async fn breakdown(
    pool: &PgPool,
    range: &Range<'_>,
) -> Result<(Vec<ShareRow>, Vec<ShareRow>), sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT grouping(c.device) = 1 AS by_channel,
                COALESCE(CASE WHEN grouping(c.device) = 1 THEN c.channel ELSE c.device END, 'unknown'),
                count(*), COALESCE(sum(c.message_count), 0)::int8",
    );
    range.push(&mut q);
    q.push(format!(
        " AND {} GROUP BY GROUPING SETS ((c.channel), (c.device)) ORDER BY 1, 3 DESC, 2",
        Population::Engaged.predicate()
    ));
    let rows: Vec<(bool, String, i64, i64)> = q.build_query_as().fetch_all(pool).await?;
    let (channels, devices): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.0);
    let shares = |rows: Vec<(bool, String, i64, i64)>| {
        rows.into_iter()
            .map(|(_, key, conversations, messages)| ShareRow {
                key,
                conversations,
                messages,
            })
            .collect()
    };
    Ok((shares(channels), shares(devices)))
}
