//! Conversations and their messages.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::days::{CONVERSATIONS_ZONED, Zone, push_started};
use super::populations::{OUTCOME, Population};
use schemas::payloads::Priority;

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ConversationRow {
    pub website_id: String,
    pub conversation_id: String,
    pub status: String,
    pub channel: String,
    pub customer_id: Option<String>,
    /// The contact of the conversation's earliest contact submission.
    pub contact_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    /// As the client declared it (`context.language` of the earliest event).
    pub language: Option<String>,
    /// ISO 639-1 code of the language most of the visitor's messages were written in, detected
    /// from their text when their events declared none; null when no message was long enough
    /// to tell, and once the texts were erased.
    pub detected_language: Option<String>,
    /// The visitor's country (ISO 3166-1 alpha-2), from the address of the earliest event;
    /// null when the address placed no one or the website does not record countries.
    pub country: Option<String>,
    pub page_url: Option<String>,
    pub environment: Option<String>,
    pub widget_loaded_at: Option<DateTime<Utc>>,
    pub engaged_at: Option<DateTime<Utc>>,
    pub first_message_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub message_count: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    /// Average bot response time over the bot messages that reported one.
    pub avg_bot_response_ms: Option<f64>,
    pub requires_human: bool,
    pub cta_clicks: i64,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    /// From the visitor's first message to the bot's first message at or after it.
    pub bot_first_response_ms: Option<i64>,
    /// From the visitor's first message to an agent's first message at or after it.
    pub agent_first_response_ms: Option<i64>,
    /// When it first asked for a human: a message that asked for one, or an admin's flag.
    pub handoff_at: Option<DateTime<Utc>>,
    /// `visitor_asked`, `bot_asked`, `agent_asked` (who wrote the message that asked) or
    /// `admin_flagged`.
    pub handoff_reason: Option<String>,
    /// From the handoff to the first agent message (or admin's "a human replied") after it.
    pub handoff_response_ms: Option<i64>,
    /// From the first event to the latest close, while it is closed.
    pub resolution_ms: Option<i64>,
    /// Closes after which the visitor wrote again.
    pub reopens: i32,
    /// The visitor's last message has no bot or agent message at or after it.
    pub unanswered: bool,
    /// `contained`, `handed_off`, `abandoned`, or `open` while it goes on (it is over once
    /// closed or silent for the website's idle minutes); null when the visitor never engaged.
    pub outcome: Option<String>,
    /// `urgent`, `high`, `normal` or `low`: as an admin set it; else `high` while flagged for
    /// a human, `normal` otherwise.
    pub priority: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct MessageRow {
    /// The message's id: the event that created it.
    pub id: Uuid,
    pub message_id: Option<String>,
    pub sender: String,
    /// Who exactly, when the client said (`message.sent` version 2).
    pub sender_id: Option<String>,
    pub sender_name: Option<String>,
    /// `None` once the person who wrote or read it was erased.
    pub text: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub response_time_ms: Option<i64>,
    pub confidence_score: Option<f64>,
    pub requires_human: bool,
    pub human_replied: bool,
}

/// The columns of [`ConversationRow`] over [`CONVERSATIONS_ZONED`].
static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "c.website_id, c.conversation_id, c.status, c.channel, c.customer_id, c.contact_id,
        c.ip_address, c.user_agent, c.device, c.language, c.detected_language, c.country,
        c.page_url, c.environment,
        c.widget_loaded_at, c.engaged_at, c.first_message_at, c.last_message_at, c.message_count,
        c.user_messages, c.bot_messages, c.agent_messages,
        (c.bot_response_ms_sum::float8 / NULLIF(c.bot_responses, 0)) AS avg_bot_response_ms,
        c.requires_human, c.cta_clicks, c.closed_at, c.close_reason, c.rating, c.rating_comment,
        c.first_seen_at, c.last_activity_at, c.bot_first_response_ms, c.agent_first_response_ms,
        c.handoff_at, c.handoff_reason, c.handoff_response_ms, c.resolution_ms, c.reopens,
        c.unanswered, {OUTCOME} AS outcome, {} AS priority",
        &*PRIORITY_NAME
    )
});

/// A conversation's language: the language subtag of the declared one (`fr` of `fr-CA`), else
/// the detected one.
pub const LANGUAGE: &str =
    "COALESCE(NULLIF(lower(split_part(replace(c.language, '_', '-'), '-', 1)), ''),
    c.detected_language)";

/// A conversation's priority as its number ([`schemas::payloads::Priority::rank`], higher is
/// more urgent), over [`CONVERSATIONS_ZONED`]: as an admin set it, else high while flagged for
/// a human, else normal.
pub const PRIORITY: &str = "COALESCE(pr.priority, CASE WHEN c.requires_human THEN 3 ELSE 2 END)";

/// [`PRIORITY`] by name.
pub static PRIORITY_NAME: LazyLock<String> = LazyLock::new(|| {
    let cases: Vec<String> = Priority::ALL
        .iter()
        .map(|p| format!("WHEN {} THEN '{}'", p.rank(), p.name()))
        .collect();
    format!("(CASE {PRIORITY} {} END)", cases.join(" "))
});

/// Which conversations a list or export wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None`: every website.
    pub websites: Option<Vec<String>>,
    pub status: Option<String>,
    pub channel: Option<String>,
    pub device: Option<String>,
    /// An ISO 3166-1 alpha-2 code, or `unknown` for conversations without a country.
    pub country: Option<String>,
    /// A [`LANGUAGE`], or `unknown` for conversations without one.
    pub language: Option<String>,
    /// Started on a day of `[from, to]` in the zone of `zone`.
    pub started: Option<(NaiveDate, NaiveDate)>,
    /// The zone days are counted in: each website's own unless the request named one.
    pub zone: Zone,
    /// Only the conversations of one statistic's population.
    pub population: Option<Population>,
    /// The page the widget loaded on (`""`: it never loaded).
    pub page_url: Option<String>,
    pub rating: Option<i16>,
    pub has_contact: Option<bool>,
    pub requires_human: Option<bool>,
    /// Words a message of the conversation contains (case-insensitive).
    pub text: Option<String>,
    /// `contained`, `handed_off`, `abandoned` or `open`.
    pub outcome: Option<String>,
    /// An address or a CIDR range the conversation's address lies in (checked by the route).
    pub ip: Option<String>,
    pub priority: Option<Priority>,
}

/// What a list is ordered by: a time column of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    LastActivity,
    Started,
    /// By when they were handed to a human; lists only handed-off conversations.
    Handoff,
    /// By [`PRIORITY`], then by the latest activity.
    Priority,
}

impl SortBy {
    const ALL: [SortBy; 4] = [
        SortBy::LastActivity,
        SortBy::Started,
        SortBy::Handoff,
        SortBy::Priority,
    ];

    /// The order's name (`-` before it for the reverse order).
    fn name(self) -> &'static str {
        match self {
            SortBy::LastActivity => "last_activity_at",
            SortBy::Started => "first_seen_at",
            SortBy::Handoff => "handoff_at",
            SortBy::Priority => "priority",
        }
    }

    /// The time column the keyset ends with.
    fn column(self) -> &'static str {
        match self {
            SortBy::Priority => "last_activity_at",
            other => other.name(),
        }
    }
}

/// Where the previous page of a list ended: its last row's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The row's [`PRIORITY`], when the list is ordered by it.
    pub rank: Option<i16>,
    pub at: DateTime<Utc>,
    pub website_id: String,
    pub conversation_id: String,
}

/// A list order, a keyset over ([priority,] time, website, conversation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub by: SortBy,
    pub descending: bool,
}

impl Sort {
    /// Newest activity first.
    pub const DEFAULT: Sort = Sort {
        by: SortBy::LastActivity,
        descending: true,
    };

    /// `column` or `-column` (descending) for a column of [`SortBy`].
    pub fn parse(value: &str) -> Option<Self> {
        let (descending, column) = match value.strip_prefix('-') {
            Some(column) => (true, column),
            None => (false, value),
        };
        let by = SortBy::ALL.into_iter().find(|b| b.name() == column)?;
        Some(Sort { by, descending })
    }

    /// Every value [`Sort::parse`] accepts, for an error that lists them.
    pub fn names() -> String {
        SortBy::ALL
            .iter()
            .flat_map(|b| [format!("-{}", b.name()), b.name().to_owned()])
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn column(self) -> &'static str {
        self.by.column()
    }

    /// Where a page ending with `row` ends, for the next page's cursor.
    pub fn after(self, row: &ConversationRow) -> After {
        let at = match self.by {
            SortBy::LastActivity | SortBy::Priority => row.last_activity_at,
            SortBy::Started => row.first_seen_at,
            // Only handed-off conversations are listed in this order.
            SortBy::Handoff => row.handoff_at.unwrap_or(row.first_seen_at),
        };
        After {
            rank: (self.by == SortBy::Priority)
                .then(|| Priority::parse(&row.priority).map(Priority::rank))
                .flatten(),
            at,
            website_id: row.website_id.clone(),
            conversation_id: row.conversation_id.clone(),
        }
    }
}

/// Appends `WHERE …` for `filter` to a query over [`CONVERSATIONS_ZONED`].
pub fn push_filter(q: &mut QueryBuilder<'_, Postgres>, filter: &Filter) {
    q.push(" WHERE true");
    if let Some(w) = &filter.websites {
        super::push_websites(q, "c.website_id", w);
    }
    if let Some(s) = &filter.status {
        q.push(" AND c.status = ").push_bind(s.clone());
    }
    if let Some(ch) = &filter.channel {
        q.push(" AND c.channel = ").push_bind(ch.clone());
    }
    if let Some(d) = &filter.device {
        // The statistics' breakdown names a conversation without a device `unknown`.
        q.push(" AND COALESCE(c.device, 'unknown') = ")
            .push_bind(d.clone());
    }
    if let Some(language) = &filter.language {
        q.push(format!(" AND COALESCE({LANGUAGE}, 'unknown') = "))
            .push_bind(language.clone());
    }
    if let Some(country) = &filter.country {
        q.push(" AND COALESCE(c.country, 'unknown') = ")
            .push_bind(country.clone());
    }
    if let Some((from, to)) = filter.started {
        push_started(q, (from, to), &filter.zone);
    }
    if let Some(p) = filter.population {
        q.push(format!(" AND {}", p.predicate()));
    }
    if let Some(page) = &filter.page_url {
        q.push(" AND COALESCE(c.page_url, '') = ")
            .push_bind(page.clone());
    }
    if let Some(r) = filter.rating {
        q.push(" AND c.rating = ").push_bind(r);
    }
    match filter.has_contact {
        Some(true) => {
            q.push(" AND c.contact_id IS NOT NULL");
        }
        Some(false) => {
            q.push(" AND c.contact_id IS NULL");
        }
        None => {}
    }
    if let Some(r) = filter.requires_human {
        q.push(" AND c.requires_human = ").push_bind(r);
    }
    if let Some(ip) = &filter.ip {
        // The stored address lies in the range; or, stored as an anonymised network (IPv4 /24,
        // IPv6 /48, ingest's `privacy::anonymize`), the asked address lies in that network.
        q.push(" AND c.ip_address IS NOT NULL AND (c.ip_address::inet <<= ")
            .push_bind(ip.clone())
            .push("::inet OR (")
            .push_bind(ip.clone())
            .push(
                "::inet <<= set_masklen(c.ip_address::inet,
                     CASE family(c.ip_address::inet) WHEN 4 THEN 24 ELSE 48 END)
                 AND host(c.ip_address::inet) = host(network(set_masklen(c.ip_address::inet,
                     CASE family(c.ip_address::inet) WHEN 4 THEN 24 ELSE 48 END)))))",
            );
    }
    if let Some(p) = filter.priority {
        q.push(format!(" AND {PRIORITY} = ")).push_bind(p.rank());
    }
    if let Some(outcome) = &filter.outcome {
        q.push(format!(" AND {OUTCOME} = "))
            .push_bind(outcome.clone());
    }
    if let Some(text) = &filter.text {
        // LIKE metacharacters in the search are literal.
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q.push(
            " AND EXISTS (SELECT 1 FROM messages m WHERE m.website_id = c.website_id
              AND m.conversation_id = c.conversation_id AND m.text ILIKE ",
        )
        .push_bind(format!("%{escaped}%"))
        .push(")");
    }
}

/// One page of conversations after `after` (a previous page's last row), in `sort` order.
pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    sort: Sort,
    after: Option<After>,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!("SELECT {} FROM {CONVERSATIONS_ZONED}", &*COLUMNS));
    push_filter(&mut q, filter);
    let column = sort.column();
    q.push(format!(" AND c.{column} IS NOT NULL"));
    let (cmp, dir) = if sort.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let by_priority = sort.by == SortBy::Priority;
    let column = format!("c.{column}");
    let keys: Vec<&str> = by_priority
        .then_some(PRIORITY)
        .into_iter()
        .chain([column.as_str(), "c.website_id", "c.conversation_id"])
        .collect();
    if let Some(after) = after {
        q.push(format!(" AND ({}) {cmp} (", keys.join(", ")));
        if by_priority {
            q.push_bind(after.rank.unwrap_or_default()).push(", ");
        }
        q.push_bind(after.at)
            .push(", ")
            .push_bind(after.website_id)
            .push(", ")
            .push_bind(after.conversation_id)
            .push(")");
    }
    let order: Vec<String> = keys.iter().map(|k| format!("{k} {dir}")).collect();
    q.push(format!(" ORDER BY {} LIMIT ", order.join(", ")))
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

/// How many conversations match `filter` (up to [`super::Total::CAP`]).
pub async fn count(pool: &PgPool, filter: &Filter) -> Result<super::Total, sqlx::Error> {
    super::count_capped(pool, CONVERSATIONS_ZONED, |q| push_filter(q, filter)).await
}

/// Conversations with this id in `websites` (every website when `None`).
pub async fn find(
    pool: &PgPool,
    websites: Option<&[String]>,
    conversation_id: &str,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM {CONVERSATIONS_ZONED}
         WHERE c.conversation_id = $1 AND ($2::text[] IS NULL OR c.website_id = ANY($2))
         ORDER BY c.website_id LIMIT 2",
        &*COLUMNS
    ))
    .bind(conversation_id)
    .bind(websites)
    .fetch_all(pool)
    .await
}

/// The most other conversations from one address a conversation's detail counts: a shared
/// address (an office, a carrier's NAT) may have many thousands, and the detail is read often
/// (counting every one made each read of such a conversation scan them); `?ip=` lists them all.
pub const SAME_ADDRESS_CAP: i64 = 1_000;

/// How many other conversations of the website came from the conversation's address, exact up
/// to [`SAME_ADDRESS_CAP`] (then the cap, and `true`); `None` when it has none (never known, or
/// cleared by retention). Read from `conversations_by_address` alone.
pub async fn same_address(
    pool: &PgPool,
    website_id: &str,
    conversation_id: &str,
) -> Result<Option<(i64, bool)>, sqlx::Error> {
    let counted: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT CASE WHEN c.ip_address IS NULL THEN NULL ELSE
                    (SELECT count(*) - 1 FROM (
                        SELECT 1 FROM conversations o
                        WHERE o.website_id = c.website_id AND o.ip_address = c.ip_address
                        LIMIT $3) same) END
         FROM conversations c WHERE c.website_id = $1 AND c.conversation_id = $2",
    )
    .bind(website_id)
    .bind(conversation_id)
    // Itself, the cap, and one more to know it was passed.
    .bind(SAME_ADDRESS_CAP + 2)
    .fetch_optional(pool)
    .await?;
    Ok(counted
        .flatten()
        .map(|n| (n.min(SAME_ADDRESS_CAP), n > SAME_ADDRESS_CAP)))
}

/// A conversation's messages in the order they were sent.
pub async fn messages(
    pool: &PgPool,
    website_id: &str,
    conversation_id: &str,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_id AS id, message_id, sender, sender_id, sender_name, text, sent_at, response_time_ms,
                confidence_score, requires_human, human_replied
         FROM messages WHERE website_id = $1 AND conversation_id = $2
         ORDER BY sent_at, event_id LIMIT $3",
    )
    .bind(website_id)
    .bind(conversation_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A message and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundMessage {
    pub website_id: String,
    pub conversation_id: String,
    pub message: MessageRow,
}

/// A message by its event id or its client `message_id`, in `websites`.
pub async fn find_message(
    pool: &PgPool,
    websites: Option<&[String]>,
    id: &str,
) -> Result<Option<FoundMessage>, sqlx::Error> {
    let event_id: Option<Uuid> = id.parse().ok();
    let row: Option<(String, String, Uuid)> = sqlx::query_as(
        "SELECT website_id, conversation_id, event_id FROM messages
         WHERE (event_id = $1 OR message_id = $2)
           AND ($3::text[] IS NULL OR website_id = ANY($3))
         ORDER BY sent_at, event_id LIMIT 1",
    )
    .bind(event_id)
    .bind(id)
    .bind(websites)
    .fetch_optional(pool)
    .await?;
    let Some((website, conversation, event_id)) = row else {
        return Ok(None);
    };
    let message = sqlx::query_as(
        "SELECT event_id AS id, message_id, sender, sender_id, sender_name, text, sent_at, response_time_ms,
                confidence_score, requires_human, human_replied
         FROM messages WHERE event_id = $1 AND website_id = $2 AND conversation_id = $3",
    )
    .bind(event_id)
    .bind(&website)
    .bind(&conversation)
    .fetch_one(pool)
    .await?;
    Ok(Some(FoundMessage {
        website_id: website,
        conversation_id: conversation,
        message,
    }))
}

/// The old dashboard's totals (`GET /admin/stats`), over every conversation of `websites` (all
/// when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct DashboardTotals {
    pub conversations: i64,
    pub active: i64,
    pub messages: i64,
    /// Messages flagged for a human that no human has replied to yet.
    pub waiting_for_human: i64,
}

pub async fn dashboard_totals(
    pool: &PgPool,
    websites: Option<&[String]>,
) -> Result<DashboardTotals, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT count(*) AS conversations, count(*) FILTER (WHERE status = 'active') AS active,
                COALESCE(sum(message_count), 0)::int8 AS messages,
                (SELECT count(*) FROM messages m
                 WHERE m.requires_human AND NOT m.human_replied",
    );
    if let Some(w) = websites {
        super::push_websites(&mut q, "m.website_id", w);
    }
    q.push(") AS waiting_for_human FROM conversations c WHERE true");
    if let Some(w) = websites {
        super::push_websites(&mut q, "c.website_id", w);
    }
    q.build_query_as().fetch_one(pool).await
}
