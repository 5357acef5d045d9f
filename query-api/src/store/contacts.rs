//! Contacts: lists with search and a total, one contact with its history.

use std::sync::LazyLock;

use schemas::payloads::{DEFAULT_DEMO_KEYWORDS, DEFAULT_PRICING_KEYWORDS, WebsiteLeadKeywords};

use super::days::{LocalDays, Zone, ZoneOf, push_days, push_started};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ContactRow {
    pub website_id: String,
    pub contact_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub channel: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub conversation_count: i64,
    pub request_count: i64,
    pub notes: Option<String>,
    pub lead_status: String,
    pub erased_at: Option<DateTime<Utc>>,
    /// `hot`, `warm` or `cold`, as of now ([`LEAD_SCORE`]; docs/api.md).
    pub lead_score: String,
    /// What the score was made of: the contact's questions, conversations and recency.
    pub lead_reasons: Vec<String>,
}

/// The contacts with their lead signals (`lead.asked_pricing`, `lead.asked_demo`): whether a
/// visitor message in one of the contact's conversations has a word of the website's pricing
/// (demo) keywords. Postgres computes a signal only where a query reads it.
pub static SCORED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "contacts CROSS JOIN LATERAL (SELECT {} AS asked_pricing, {} AS asked_demo) lead",
        asked("pricing", DEFAULT_PRICING_KEYWORDS),
        asked("demo", DEFAULT_DEMO_KEYWORDS)
    )
});

/// Whether the contact's visitor messages have one of the website's `kind` keywords (the
/// defaults when it set none). Texts cleared by retention or erasure say nothing.
fn asked(kind: &str, defaults: &[&str]) -> String {
    let defaults: Vec<String> = defaults
        .iter()
        .map(|k| WebsiteLeadKeywords::pattern(k))
        .collect();
    let defaults = defaults.join("|").replace('\'', "''");
    format!(
        "EXISTS (SELECT 1 FROM conversations lc
            JOIN messages lm ON lm.website_id = lc.website_id
                            AND lm.conversation_id = lc.conversation_id
            WHERE lc.website_id = contacts.website_id AND lc.contact_id = contacts.contact_id
              AND lm.sender = 'user' AND lm.text IS NOT NULL
              AND lm.text ~* COALESCE(
                    (SELECT array_to_string(k.{kind}_patterns, '|') FROM website_lead_keywords k
                     WHERE k.website_id = contacts.website_id AND cardinality(k.{kind}_patterns) > 0),
                    '{defaults}'))"
    )
}

/// The lead score over [`SCORED`], from the rules of the contacts guide: hot when active in
/// the last 7 days and either asking about pricing or a demo or on a third conversation; cold
/// when inactive for over 30 days, or after 7 days with a single conversation and no such
/// question; warm otherwise. Recency is measured from now, so the score moves with time
/// without anything rewriting rows.
pub const LEAD_SCORE: &str = "(CASE
    WHEN contacts.last_activity_at > now() - interval '7 days'
         AND (lead.asked_pricing OR lead.asked_demo OR contacts.conversation_count >= 3)
    THEN 'hot'
    WHEN contacts.last_activity_at < now() - interval '30 days'
         OR (contacts.last_activity_at <= now() - interval '7 days'
             AND contacts.conversation_count <= 1
             AND NOT (lead.asked_pricing OR lead.asked_demo))
    THEN 'cold'
    ELSE 'warm' END)";

/// What [`LEAD_SCORE`] weighed, in words.
const LEAD_REASONS: &str = "array_remove(ARRAY[
    CASE WHEN lead.asked_pricing THEN 'asked about pricing or plans' END,
    CASE WHEN lead.asked_demo THEN 'asked for a demo or a trial' END,
    CASE WHEN contacts.conversation_count = 1 THEN 'a single conversation'
         ELSE contacts.conversation_count || ' conversations' END,
    CASE WHEN contacts.last_activity_at > now() - interval '7 days'
         THEN 'active in the last 7 days'
         WHEN contacts.last_activity_at >= now() - interval '30 days'
         THEN 'last active 7 to 30 days ago'
         ELSE 'no activity for over 30 days' END], NULL)";

static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "contacts.website_id, contacts.contact_id, name, email, phone, channel, first_seen_at,
        last_activity_at, conversation_count, request_count, notes, lead_status, erased_at,
        {LEAD_SCORE} AS lead_score, {LEAD_REASONS} AS lead_reasons"
    )
});

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub websites: Option<Vec<String>>,
    /// Name, e-mail or phone contains it (case-insensitive).
    pub search: Option<String>,
    pub channel: Option<String>,
    /// First seen in `[from, to)`.
    pub first_seen: Option<LocalDays>,
    /// The zone `first_seen`'s days are in: each website's own unless the request named one.
    pub zone: Zone,
    pub lead_status: Option<String>,
    /// `hot`, `warm` or `cold` ([`LEAD_SCORE`]).
    pub lead_score: Option<String>,
    pub include_erased: bool,
    /// Only contacts inactive for longer than their website's review period
    /// (`contact_review_months`, 12 by default).
    pub review_due: bool,
    /// Only the contacts one figure of the contact insights counts, for its range of local
    /// days (in the zone of `zone`).
    pub population: Option<(ContactPopulation, (NaiveDate, NaiveDate))>,
}

/// A set of contacts one figure of `GET /v1/stats/contacts` counts, for a range of local days;
/// the figure and `GET /v1/contacts?population=…` both use [`ContactPopulation::push`]. Erased
/// contacts are in none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactPopulation {
    /// First seen on or before the range's last day.
    Total,
    /// First seen in the range.
    New,
    /// With a conversation started in the range.
    Active,
    /// Active, and with more than one conversation.
    Repeat,
    /// With a conversation started in the range that is still open.
    InOpenConversation,
    /// In the total, and with a contact request still pending.
    AwaitingFollowUp,
}

impl ContactPopulation {
    pub const ALL: [ContactPopulation; 6] = [
        ContactPopulation::Total,
        ContactPopulation::New,
        ContactPopulation::Active,
        ContactPopulation::Repeat,
        ContactPopulation::InOpenConversation,
        ContactPopulation::AwaitingFollowUp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ContactPopulation::Total => "total",
            ContactPopulation::New => "new",
            ContactPopulation::Active => "active",
            ContactPopulation::Repeat => "repeat",
            ContactPopulation::InOpenConversation => "in_open_conversation",
            ContactPopulation::AwaitingFollowUp => "awaiting_follow_up",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Appends ` AND …` keeping the contacts (a row of `contacts`) of this population for the
    /// local days `days` in the zone of `zone`.
    pub fn push(
        self,
        q: &mut QueryBuilder<'_, Postgres>,
        days: (NaiveDate, NaiveDate),
        zone: &Zone,
    ) {
        let contact = |q: &mut QueryBuilder<'_, Postgres>, days| {
            push_days(
                q,
                "contacts.first_seen_at",
                days,
                zone,
                ZoneOf::Lookup("contacts"),
            );
        };
        let conversation = |q: &mut QueryBuilder<'_, Postgres>, open: bool| {
            q.push(
                " AND EXISTS (SELECT 1 FROM conversations c
                    LEFT JOIN website_time_zones z ON z.website_id = c.website_id
                    WHERE c.website_id = contacts.website_id AND c.contact_id = contacts.contact_id",
            );
            if open {
                q.push(" AND c.status <> 'closed'");
            }
            push_started(q, days, zone);
            q.push(")");
        };
        q.push(" AND contacts.erased_at IS NULL");
        match self {
            ContactPopulation::Total => contact(q, (DateTime::UNIX_EPOCH.date_naive(), days.1)),
            ContactPopulation::New => contact(q, days),
            ContactPopulation::Active => conversation(q, false),
            ContactPopulation::Repeat => {
                conversation(q, false);
                q.push(" AND contacts.conversation_count > 1");
            }
            ContactPopulation::InOpenConversation => conversation(q, true),
            ContactPopulation::AwaitingFollowUp => {
                contact(q, (DateTime::UNIX_EPOCH.date_naive(), days.1));
                q.push(
                    " AND EXISTS (SELECT 1 FROM contact_requests r
                        WHERE r.website_id = contacts.website_id
                          AND r.contact_id = contacts.contact_id AND r.status = 'pending')",
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    LastActivityDesc,
    FirstSeenDesc,
    FirstSeenAsc,
    Name,
    /// Hot first, then by the latest activity.
    LeadScore,
}

impl Sort {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "-last_activity_at" => Sort::LastActivityDesc,
            "-first_seen_at" | "-created_at" => Sort::FirstSeenDesc,
            "first_seen_at" | "created_at" => Sort::FirstSeenAsc,
            "name" => Sort::Name,
            "-lead_score" => Sort::LeadScore,
            _ => return None,
        })
    }

    fn order_by(self) -> String {
        let keys = "contacts.website_id, contacts.contact_id";
        match self {
            Sort::LastActivityDesc => format!("last_activity_at DESC, {keys}"),
            Sort::FirstSeenDesc => format!("first_seen_at DESC, {keys}"),
            Sort::FirstSeenAsc => format!("first_seen_at, {keys}"),
            Sort::Name => format!("lower(name) NULLS LAST, {keys}"),
            Sort::LeadScore => format!(
                "array_position(ARRAY['hot', 'warm', 'cold'], {LEAD_SCORE}),
                 last_activity_at DESC, {keys}"
            ),
        }
    }
}

pub fn push_filter(q: &mut QueryBuilder<'_, Postgres>, filter: &Filter) {
    q.push(" WHERE true");
    if let Some(w) = &filter.websites {
        super::push_websites(q, "contacts.website_id", w);
    }
    if let Some(s) = &filter.lead_score {
        q.push(format!(" AND {LEAD_SCORE} = ")).push_bind(s.clone());
    }
    if let Some(s) = &filter.search {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        q.push(" AND (name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR email ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR phone ILIKE ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(c) = &filter.channel {
        q.push(" AND channel = ").push_bind(c.clone());
    }
    if let Some(days) = filter.first_seen {
        days.push(q, "first_seen_at", &filter.zone, ZoneOf::Lookup("contacts"));
    }
    if let Some(l) = &filter.lead_status {
        q.push(" AND lead_status = ").push_bind(l.clone());
    }
    if !filter.include_erased {
        q.push(" AND erased_at IS NULL");
    }
    if filter.review_due {
        q.push(
            " AND last_activity_at < now() - make_interval(months => COALESCE(
                (SELECT p.contact_review_months FROM website_privacy p
                 WHERE p.website_id = contacts.website_id), ",
        )
        .push_bind(schemas::payloads::DEFAULT_CONTACT_REVIEW_MONTHS as i32)
        .push("))");
    }
    if let Some((population, days)) = filter.population {
        population.push(q, days, &filter.zone);
    }
}

pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> Result<Vec<ContactRow>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!("SELECT {} FROM {}", &*COLUMNS, &*SCORED));
    push_filter(&mut q, filter);
    q.push(format!(" ORDER BY {} LIMIT ", sort.order_by()))
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    q.build_query_as().fetch_all(pool).await
}

/// How many contacts match `filter` (up to [`super::Total::CAP`]).
pub async fn count(pool: &PgPool, filter: &Filter) -> Result<super::Total, sqlx::Error> {
    super::count_capped(pool, &SCORED, |q| push_filter(q, filter)).await
}

/// The contact `id` names in `websites`: its own, or the one it was merged into.
pub async fn find(
    pool: &PgPool,
    websites: Option<&[String]>,
    id: &str,
) -> Result<Option<ContactRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM {}
         WHERE (contacts.website_id, contacts.contact_id) IN (
            SELECT website_id, contact_id FROM contact_identities
            WHERE key = $1 AND ($2::text[] IS NULL OR website_id = ANY($2)))
         ORDER BY contacts.website_id LIMIT 1",
        &*COLUMNS, &*SCORED
    ))
    .bind(id)
    .bind(websites)
    .fetch_optional(pool)
    .await
}

/// One conversation in a contact's history.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct HistoryRow {
    pub conversation_id: String,
    pub status: String,
    pub channel: String,
    pub started_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub duration_s: f64,
    pub message_count: i64,
    pub rating: Option<i16>,
}

/// Every conversation a submission of the contact came from, newest first.
pub async fn history(
    pool: &PgPool,
    website_id: &str,
    contact_id: &str,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.conversation_id, c.status, c.channel, c.first_seen_at AS started_at,
                c.last_activity_at,
                EXTRACT(EPOCH FROM c.last_activity_at - c.first_seen_at)::float8 AS duration_s,
                c.message_count, c.rating
         FROM conversations c
         WHERE c.website_id = $1 AND c.conversation_id IN (
            SELECT o.conversation_id FROM contact_observations o
            JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key
            WHERE i.website_id = $1 AND i.contact_id = $2)
         ORDER BY c.first_seen_at DESC, c.conversation_id",
    )
    .bind(website_id)
    .bind(contact_id)
    .fetch_all(pool)
    .await
}
