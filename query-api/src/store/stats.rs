//! Statistics over ranges of a website's days, read from `conversations`: every figure counts
//! the conversations started in the range (or sums over them) as [`super::populations`]
//! defines, placed on days in the website's time zone (or the request's).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use super::days::{CONVERSATIONS_ZONED, Zone, ZoneOf, push_days, push_local};
use super::populations::Population;

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

/// The column of [`Counts`] that holds the size of each of [`Population::QUARTERED`].
fn population_column(p: Population) -> Option<&'static str> {
    Some(match p {
        Population::Started => "conversations",
        Population::Loaded => "loaded_conversations",
        Population::Engaged => "engaged_conversations",
        Population::LoadedEngaged => "loaded_engaged_conversations",
        Population::EngagedWithoutLoad => "engaged_without_load",
        Population::CtaClicked => "cta_conversations",
        Population::ContactSubmitted => "contact_conversations",
        Population::Escalated => "escalated_conversations",
        Population::Rated => "rated_conversations",
        _ => return None,
    })
}

/// Who a conversation's visitor is: ingest's hash of them, else the website's customer id, else
/// the conversation itself (`visitor_of`, defined in the projector's migrations, where the
/// pre-aggregated unique visitors use it too).
const VISITOR: &str = "c.website_id, visitor_of(c)";

/// The additive columns of [`Counts`] (all but unique visitors) that are sums over the
/// conversations, by the expression summed.
const SUMMED: [(&str, &str); 8] = [
    ("user_messages", "c.user_messages"),
    ("bot_messages", "c.bot_messages"),
    ("agent_messages", "c.agent_messages"),
    // Messages of the engaged conversations.
    (
        "engaged_messages",
        "c.message_count) FILTER (WHERE c.engaged_at IS NOT NULL",
    ),
    ("cta_clicks", "c.cta_clicks"),
    ("bot_response_ms_sum", "c.bot_response_ms_sum"),
    ("bot_responses", "c.bot_responses"),
    ("ratings_sum", "c.rating"),
];

/// The additive columns of [`Counts`], in order.
fn additive() -> impl Iterator<Item = &'static str> {
    Population::QUARTERED
        .iter()
        .filter_map(|p| population_column(*p))
        .chain(SUMMED.iter().map(|(name, _)| *name))
}

/// Every column of [`Counts`] but unique visitors as an aggregate over `conversations c`: each
/// is additive, so a range's figures are the sums of its days'. The projector pre-aggregates
/// the same select list per quarter hour (`started_quarters`; a test holds the two equal).
static SUMS: LazyLock<String> = LazyLock::new(|| {
    let engaged = Population::Engaged.predicate();
    debug_assert!(SUMMED[3].1.contains(engaged));
    Population::QUARTERED
        .iter()
        .filter_map(|p| {
            let column = population_column(*p)?;
            Some(format!(
                "count(*) FILTER (WHERE {}) AS {column}",
                p.predicate()
            ))
        })
        .chain(
            SUMMED
                .iter()
                .map(|(name, sum)| format!("COALESCE(sum({sum}), 0)::int8 AS {name}")),
        )
        .collect::<Vec<_>>()
        .join(",\n       ")
});

/// [`SUMS`] read from the quarter hours of `started_quarters c`.
static QUARTER_SUMS: LazyLock<String> = LazyLock::new(|| {
    additive()
        .map(|name| format!("COALESCE(sum(c.{name}), 0)::int8 AS {name}"))
        .collect::<Vec<_>>()
        .join(", ")
});

/// [`SUMS`] with unique visitors counted in the same pass: for breakdowns that are not on the
/// hot path (the funnel's pages).
static COUNTS: LazyLock<String> =
    LazyLock::new(|| format!("{}, count(DISTINCT ({VISITOR})) AS unique_visitors", &*SUMS));

impl Counts {
    /// Adds `other`'s additive figures (all but unique visitors).
    fn add(&mut self, other: &Counts) {
        let Counts {
            conversations,
            loaded_conversations,
            engaged_conversations,
            loaded_engaged_conversations,
            engaged_without_load,
            cta_conversations,
            contact_conversations,
            escalated_conversations,
            rated_conversations,
            unique_visitors: _,
            user_messages,
            bot_messages,
            agent_messages,
            engaged_messages,
            cta_clicks,
            bot_response_ms_sum,
            bot_responses,
            ratings_sum,
        } = other;
        self.conversations += conversations;
        self.loaded_conversations += loaded_conversations;
        self.engaged_conversations += engaged_conversations;
        self.loaded_engaged_conversations += loaded_engaged_conversations;
        self.engaged_without_load += engaged_without_load;
        self.cta_conversations += cta_conversations;
        self.contact_conversations += contact_conversations;
        self.escalated_conversations += escalated_conversations;
        self.rated_conversations += rated_conversations;
        self.user_messages += user_messages;
        self.bot_messages += bot_messages;
        self.agent_messages += agent_messages;
        self.engaged_messages += engaged_messages;
        self.cta_clicks += cta_clicks;
        self.bot_response_ms_sum += bot_response_ms_sum;
        self.bot_responses += bot_responses;
        self.ratings_sum += ratings_sum;
    }
}

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

/// Where a range's figures are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The conversation rows: for a range of one page, which the quarter hours do not keep.
    Conversations,
    /// The projector's quarter hours of conversation starts (`started_quarters`), or of
    /// visits (`visitor_quarters`).
    Quarters(&'static str),
}

impl Range<'_> {
    /// The quarter hours when they hold the range's figures, else the conversations.
    fn source(&self, quarters: &'static str) -> Source {
        match self.page_url {
            None => Source::Quarters(quarters),
            Some(_) => Source::Conversations,
        }
    }

    /// The instant of a row of `source` that places it on a day.
    fn instant(source: Source) -> &'static str {
        match source {
            Source::Conversations => "c.first_seen_at",
            Source::Quarters(_) => "c.quarter",
        }
    }

    /// Appends `FROM … WHERE …` selecting the conversations of the range, as `c`, joined as
    /// [`CONVERSATIONS_ZONED`].
    pub(super) fn push_conversations(&self, q: &mut QueryBuilder<'_, Postgres>) {
        self.push(q, Source::Conversations);
    }

    /// Appends `FROM … WHERE …` selecting the rows of `source` in the range, as `c`, joined to
    /// their website's time zone.
    fn push(&self, q: &mut QueryBuilder<'_, Postgres>, source: Source) {
        match source {
            Source::Conversations => q.push(format!(" FROM {CONVERSATIONS_ZONED} WHERE true")),
            Source::Quarters(table) => q.push(format!(
                " FROM {table} c LEFT JOIN website_time_zones z ON z.website_id = c.website_id
                  WHERE true"
            )),
        };
        if let Some(w) = self.websites {
            super::push_websites(q, "c.website_id", w);
        }
        push_days(
            q,
            Self::instant(source),
            (self.from, self.to),
            self.zone,
            ZoneOf::Joined,
        );
        if let Some(page) = self.page_url {
            q.push(" AND COALESCE(c.page_url, '') = ")
                .push_bind(page.to_owned());
        }
    }
}

/// The figures of the conversations of `range`.
pub async fn counts(pool: &PgPool, range: &Range<'_>) -> Result<Counts, sqlx::Error> {
    let (rows, (_, visitors)) =
        tokio::try_join!(sums(pool, range, None), visitors(pool, range, None))?;
    Ok(total(&rows, visitors))
}

/// The sum of `rows`, with `unique_visitors` distinct visitors.
fn total(rows: &[BucketRow], unique_visitors: i64) -> Counts {
    let mut total = Counts {
        unique_visitors,
        ..Counts::default()
    };
    for r in rows {
        total.add(&r.counts);
    }
    total
}

/// Appends the local `step` of `instant` of a row `c`: a local timestamp, which Postgres groups
/// by hashing (grouping by its text sorted every row).
pub(super) fn push_bucket(
    q: &mut QueryBuilder<'_, Postgres>,
    instant: &str,
    zone: &Zone,
    step: Step,
) {
    q.push(format!("date_trunc('{}', ", step.key()));
    push_local(q, instant, zone, ZoneOf::Joined);
    q.push(")");
}

/// The text of a bucket, as a series row names it.
pub(super) fn bucket_format(step: Step) -> &'static str {
    match step {
        Step::Day => "YYYY-MM-DD",
        Step::Hour => "YYYY-MM-DD\"T\"HH24:00",
    }
}

/// [`SUMS`] per local `step` of `range` (one row, bucket `""`, when `None`).
async fn sums(
    pool: &PgPool,
    range: &Range<'_>,
    step: Option<Step>,
) -> Result<Vec<BucketRow>, sqlx::Error> {
    let source = range.source("started_quarters");
    let columns = match source {
        Source::Conversations => &*SUMS,
        Source::Quarters(_) => &*QUARTER_SUMS,
    };
    let Some(step) = step else {
        let mut q = QueryBuilder::new(format!(
            "SELECT '' AS bucket, {columns}, 0::int8 AS unique_visitors"
        ));
        range.push(&mut q, source);
        return q.build_query_as().fetch_all(pool).await;
    };
    // The bucket is computed once, in the inner query, so the outer one groups by it.
    let mut q = QueryBuilder::new(format!(
        "SELECT to_char(c.local_bucket, '{}') AS bucket, {columns}, 0::int8 AS unique_visitors
         FROM (SELECT ",
        bucket_format(step),
    ));
    push_bucket(&mut q, Range::instant(source), range.zone, step);
    q.push(" AS local_bucket, c.*");
    range.push(&mut q, source);
    q.push(") c GROUP BY c.local_bucket");
    q.build_query_as().fetch_all(pool).await
}

/// Unique visitors of `range` per local `step` (none when `None`) and in all.
///
/// From the quarter hours of visits: a visitor counts in a bucket (or the range) on their one
/// visit in it whose previous visit (`since`) lies in an earlier one, as `visitor_quarters`
/// explains. From the conversations (a range of one page): distinct visitors, made distinct
/// once per bucket (a sort Postgres runs on every core) and counted both ways.
async fn visitors(
    pool: &PgPool,
    range: &Range<'_>,
    step: Option<Step>,
) -> Result<(BTreeMap<String, i64>, i64), sqlx::Error> {
    let source = range.source("visitor_quarters");
    let rows: Vec<(Option<String>, i64)> = match (source, step) {
        (Source::Quarters(_), None) => {
            let mut q =
                QueryBuilder::new("SELECT NULL::text, COALESCE(sum(c.visits) FILTER (WHERE ");
            push_local(&mut q, "c.since", range.zone, ZoneOf::Joined);
            q.push("::date < ").push_bind(range.from);
            q.push("), 0)::int8");
            range.push(&mut q, source);
            q.build_query_as().fetch_all(pool).await?
        }
        (Source::Quarters(_), Some(step)) => {
            let mut q = QueryBuilder::new(format!(
                "SELECT to_char(v.bucket, '{}'),
                        COALESCE(CASE WHEN grouping(v.bucket) = 1
                            THEN sum(v.visits) FILTER (WHERE v.since::date < ",
                bucket_format(step)
            ));
            q.push_bind(range.from);
            q.push(format!(
                ")
                            ELSE sum(v.visits) FILTER (WHERE date_trunc('{}', v.since) <> v.bucket)
                        END, 0)::int8
                 FROM (SELECT ",
                step.key()
            ));
            push_bucket(&mut q, "c.quarter", range.zone, step);
            q.push(" AS bucket, ");
            push_local(&mut q, "c.since", range.zone, ZoneOf::Joined);
            q.push(" AS since, c.visits");
            range.push(&mut q, source);
            q.push(") v GROUP BY GROUPING SETS ((v.bucket), ())");
            q.build_query_as().fetch_all(pool).await?
        }
        (Source::Conversations, None) => {
            let mut q = QueryBuilder::new(format!(
                "SELECT NULL::text, count(*) FROM (SELECT DISTINCT {VISITOR}"
            ));
            range.push(&mut q, source);
            q.push(") v");
            q.build_query_as().fetch_all(pool).await?
        }
        (Source::Conversations, Some(step)) => {
            let mut q = QueryBuilder::new("WITH v AS MATERIALIZED (SELECT DISTINCT ");
            push_bucket(&mut q, "c.first_seen_at", range.zone, step);
            q.push(format!(" AS bucket, {VISITOR} AS visitor"));
            range.push(&mut q, source);
            q.push(format!(
                ") SELECT to_char(bucket, '{}'), count(*) FROM v GROUP BY bucket
                 UNION ALL SELECT NULL, count(*) FROM (SELECT DISTINCT website_id, visitor FROM v) t",
                bucket_format(step)
            ));
            q.build_query_as().fetch_all(pool).await?
        }
    };
    let mut all = 0;
    let mut buckets = BTreeMap::new();
    for (bucket, n) in rows {
        match bucket {
            Some(b) => {
                buckets.insert(b, n);
            }
            None => all = n,
        }
    }
    Ok((buckets, all))
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

/// The figures of every local day (or hour) of the range that started a conversation, in
/// order (the caller fills in the empty ones), and of the whole range. Each conversation is on
/// exactly one day, so the days' figures add up to the range's (but for unique visitors, who
/// may come back on several days).
pub async fn series(
    pool: &PgPool,
    range: &Range<'_>,
    step: Step,
) -> Result<(Vec<BucketRow>, Counts), sqlx::Error> {
    let (mut rows, (mut by_bucket, visitors)) = tokio::try_join!(
        sums(pool, range, Some(step)),
        visitors(pool, range, Some(step))
    )?;
    let total = total(&rows, visitors);
    for r in &mut rows {
        r.counts.unique_visitors = by_bucket.remove(&r.bucket).unwrap_or_default();
    }
    rows.sort_by(|a, b| a.bucket.cmp(&b.bucket));
    Ok((rows, total))
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
    range.push(&mut q, Source::Conversations);
    q.push(" GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

/// Engaged conversations and their messages under one value of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ShareRow {
    /// The channel, device, country or language; `unknown` when the conversation has none.
    pub key: String,
    pub conversations: i64,
    pub messages: i64,
    /// Their service figures, which the answer names as `Figures` does.
    #[sqlx(flatten)]
    #[serde(skip)]
    pub service: super::service::Service,
}

/// What the breakdown groups conversations by: each dimension's name (also the list filter
/// that opens a row) and its column.
pub const DIMENSIONS: [(&str, &str); 4] = [
    ("channel", "c.channel"),
    ("device", "c.device"),
    ("country", "c.country"),
    ("language", super::conversations::LANGUAGE),
];

/// The engaged conversations started on `[from, to]` by each of [`DIMENSIONS`], busiest
/// first; one scan groups every way.
pub async fn breakdown(
    pool: &PgPool,
    range: &Range<'_>,
) -> Result<[Vec<ShareRow>; DIMENSIONS.len()], sqlx::Error> {
    /// A [`ShareRow`] of one grouping.
    #[derive(FromRow)]
    struct Grouped {
        dimension: i32,
        #[sqlx(flatten)]
        share: ShareRow,
    }
    // In each grouping set, `grouping()` is 0 for its own column only.
    let (dimension, key): (Vec<String>, Vec<String>) = DIMENSIONS
        .iter()
        .enumerate()
        .map(|(i, (_, column))| {
            (
                format!("WHEN grouping({column}) = 0 THEN {i}"),
                format!("WHEN grouping({column}) = 0 THEN {column}"),
            )
        })
        .unzip();
    let sets: Vec<String> = DIMENSIONS.iter().map(|(_, c)| format!("({c})")).collect();
    // The service figures' medians are taken inside; the outer select names them.
    let mut q = QueryBuilder::new(format!(
        "SELECT s.dimension, s.key, s.conversations, s.messages, {}
         FROM (SELECT CASE {} END AS dimension,
                      COALESCE(CASE {} END, 'unknown') AS key,
                      count(*) AS conversations,
                      COALESCE(sum(c.message_count), 0)::int8 AS messages, {}",
        &*super::service::OUTER,
        dimension.join(" "),
        key.join(" "),
        &*super::service::INNER
    ));
    range.push(&mut q, Source::Conversations);
    q.push(format!(
        " AND {} GROUP BY GROUPING SETS ({})) s
         ORDER BY s.dimension, s.conversations DESC, s.key",
        Population::Engaged.predicate(),
        sets.join(", ")
    ));
    let rows: Vec<Grouped> = q.build_query_as().fetch_all(pool).await?;
    let mut out: [Vec<ShareRow>; DIMENSIONS.len()] = Default::default();
    for row in rows {
        if let Some(list) = usize::try_from(row.dimension)
            .ok()
            .and_then(|i| out.get_mut(i))
        {
            list.push(row.share);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of `sql`, so that line breaks and indentation do not count.
    fn words(sql: &str) -> String {
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn exactly_the_quartered_populations_have_a_column_of_the_quarter_hours() {
        for p in Population::ALL {
            assert_eq!(
                population_column(p).is_some(),
                Population::QUARTERED.contains(&p),
                "{p:?}"
            );
        }
    }

    /// The projector pre-aggregates every figure the way [`SUMS`] defines it: a population
    /// whose predicate changes here needs a migration that changes `started_figures` too.
    #[test]
    fn the_quarter_hours_aggregate_the_same_select_list() {
        let migration =
            include_str!("../../../projector/migrations/20261204000027_started_quarters.sql");
        assert!(
            words(migration).contains(&words(&SUMS)),
            "started_figures differs from SUMS:\n{}",
            &*SUMS
        );
    }
}
