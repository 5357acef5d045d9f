//! Contacts: lists with search and a total, one contact with its history.

use super::days::{LocalDays, Zone, ZoneOf};
use chrono::{DateTime, Utc};
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
}

const COLUMNS: &str = "website_id, contact_id, name, email, phone, channel, first_seen_at,
    last_activity_at, conversation_count, request_count, notes, lead_status, erased_at";

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
    pub include_erased: bool,
    /// Only contacts inactive for longer than their website's review period
    /// (`contact_review_months`, 12 by default).
    pub review_due: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    LastActivityDesc,
    FirstSeenDesc,
    FirstSeenAsc,
    Name,
}

impl Sort {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "-last_activity_at" => Sort::LastActivityDesc,
            "-first_seen_at" | "-created_at" => Sort::FirstSeenDesc,
            "first_seen_at" | "created_at" => Sort::FirstSeenAsc,
            "name" => Sort::Name,
            _ => return None,
        })
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::LastActivityDesc => "last_activity_at DESC, website_id, contact_id",
            Sort::FirstSeenDesc => "first_seen_at DESC, website_id, contact_id",
            Sort::FirstSeenAsc => "first_seen_at, website_id, contact_id",
            Sort::Name => "lower(name) NULLS LAST, website_id, contact_id",
        }
    }
}

pub fn push_filter(q: &mut QueryBuilder<'_, Postgres>, filter: &Filter) {
    q.push(" WHERE true");
    if let Some(w) = &filter.websites {
        super::push_websites(q, "website_id", w);
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
}

pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> Result<Vec<ContactRow>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM contacts"));
    push_filter(&mut q, filter);
    q.push(format!(" ORDER BY {} LIMIT ", sort.order_by()))
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    q.build_query_as().fetch_all(pool).await
}

/// How many contacts match `filter` (up to [`super::Total::CAP`]).
pub async fn count(pool: &PgPool, filter: &Filter) -> Result<super::Total, sqlx::Error> {
    super::count_capped(pool, "contacts", |q| push_filter(q, filter)).await
}

/// The contact `id` names in `websites`: its own, or the one it was merged into.
pub async fn find(
    pool: &PgPool,
    websites: Option<&[String]>,
    id: &str,
) -> Result<Option<ContactRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM contacts
         WHERE (website_id, contact_id) IN (
            SELECT website_id, contact_id FROM contact_identities
            WHERE key = $1 AND ($2::text[] IS NULL OR website_id = ANY($2)))
         ORDER BY website_id LIMIT 1"
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
