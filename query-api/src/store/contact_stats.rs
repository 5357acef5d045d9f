//! The contact insights (`GET /v1/stats/contacts`): the contacts of each
//! [`ContactPopulation`], the contacts by channel, and the figures of their conversations,
//! for a range of local days.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use super::contacts::ContactPopulation;
use super::days::{CONVERSATIONS_ZONED, Zone, push_started};
use super::populations::Population;

/// Which contacts and days the insights cover.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `None`: every website.
    pub websites: Option<&'a [String]>,
    pub days: (NaiveDate, NaiveDate),
    pub zone: &'a Zone,
}

/// The size of each contact population, and what the averages are taken over.
#[derive(Debug, Clone, Default, PartialEq, FromRow)]
pub struct ContactCounts {
    pub total: i64,
    pub new: i64,
    pub active: i64,
    pub repeat: i64,
    pub in_open_conversation: i64,
    pub awaiting_follow_up: i64,
    /// The conversations of the active contacts (their `conversation_count`s).
    pub active_conversations: i64,
}

fn push_scope(q: &mut QueryBuilder<'_, Postgres>, scope: &Scope<'_>, column: &str) {
    q.push(" WHERE true");
    if let Some(w) = scope.websites {
        super::push_websites(q, column, w);
    }
}

pub async fn counts(pool: &PgPool, scope: &Scope<'_>) -> Result<ContactCounts, sqlx::Error> {
    let mut q = QueryBuilder::new("SELECT");
    for (i, p) in ContactPopulation::ALL.iter().enumerate() {
        q.push(if i == 0 { " " } else { ", " });
        q.push("count(*) FILTER (WHERE true");
        p.push(&mut q, scope.days, scope.zone);
        q.push(format!(") AS {}", p.name()));
    }
    q.push(", COALESCE(sum(contacts.conversation_count) FILTER (WHERE true");
    ContactPopulation::Active.push(&mut q, scope.days, scope.zone);
    q.push("), 0)::int8 AS active_conversations FROM contacts");
    push_scope(&mut q, scope, "contacts.website_id");
    q.build_query_as().fetch_one(pool).await
}

/// The contacts of the total by the channel they first came through, most first.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct ChannelRow {
    pub channel: String,
    pub contacts: i64,
}

pub async fn by_channel(pool: &PgPool, scope: &Scope<'_>) -> Result<Vec<ChannelRow>, sqlx::Error> {
    let mut q = QueryBuilder::new("SELECT contacts.channel, count(*) AS contacts FROM contacts");
    push_scope(&mut q, scope, "contacts.website_id");
    ContactPopulation::Total.push(&mut q, scope.days, scope.zone);
    q.push(" GROUP BY 1 ORDER BY 2 DESC, 1");
    q.build_query_as().fetch_all(pool).await
}

/// The conversations started in the range that bear on contacts: engaged, those that left
/// contact details, and the first responses the latter got.
#[derive(Debug, Clone, Default, PartialEq, FromRow)]
pub struct ConversationCounts {
    pub engaged: i64,
    pub contact_submitted: i64,
    pub bot_answered: i64,
    pub bot_first_response_ms: Option<f64>,
    pub agent_answered: i64,
    pub agent_first_response_ms: Option<f64>,
}

/// The conversations of contacts answered by the bot (by an agent): the population and
/// `has_contact=true`, as the drill-down lists them.
fn answered(p: Population) -> String {
    format!("{} AND c.contact_id IS NOT NULL", p.predicate())
}

pub async fn conversations(
    pool: &PgPool,
    scope: &Scope<'_>,
) -> Result<ConversationCounts, sqlx::Error> {
    let (bot, agent) = (
        answered(Population::BotAnswered),
        answered(Population::AgentAnswered),
    );
    let mut q = QueryBuilder::new(format!(
        "SELECT count(*) FILTER (WHERE {}) AS engaged,
                count(*) FILTER (WHERE {}) AS contact_submitted,
                count(*) FILTER (WHERE {bot}) AS bot_answered,
                avg(c.bot_first_response_ms) FILTER (WHERE {bot})::float8 AS bot_first_response_ms,
                count(*) FILTER (WHERE {agent}) AS agent_answered,
                avg(c.agent_first_response_ms) FILTER (WHERE {agent})::float8
                    AS agent_first_response_ms
         FROM {CONVERSATIONS_ZONED}",
        Population::Engaged.predicate(),
        Population::ContactSubmitted.predicate(),
    ));
    push_scope(&mut q, scope, "c.website_id");
    push_started(&mut q, scope.days, scope.zone);
    q.build_query_as().fetch_one(pool).await
}
