//! Conversations and their messages: `GET /v1/conversations`, `GET /v1/conversations/{id}`,
//! and the admin actions on them (close, flag a message, mark it human-replied).

use axum::Json;
use axum::extract::{Path, State};
use schemas::Payload;
use schemas::payloads::{
    CloseReason, ConversationClosed, ConversationPriority, MessageRef, Priority,
};
use serde::{Deserialize, Serialize};

use super::answers::{self, Action, Body, Listed, Page, Read, acted, read, the_one};
use super::params::{Cursor, Days, Params, check_tz, limit};
use crate::AppState;
use crate::actions;
use crate::auth::{Admin, Scope};
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::actions::ActionRow;
use crate::store::conversations::{self as store, ConversationRow, Filter, MessageRow, Sort};
use crate::store::days::Zone;
use crate::store::populations::Population;

const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;
pub const MAX_MESSAGES: i64 = 10_000;

/// The filters of the conversation list (and its exports).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub website_id: Option<String>,
    #[schemars(extend("enum" = ["loaded", "active", "closed"]))]
    pub status: Option<String>,
    pub channel: Option<String>,
    /// The device, `unknown` for conversations whose context named none.
    pub device: Option<String>,
    /// The visitor's country as an ISO 3166-1 alpha-2 code (`FR`), or `unknown` for
    /// conversations without one.
    #[schemars(regex(pattern = r"^([A-Z]{2}|unknown)$"))]
    pub country: Option<String>,
    /// A language subtag (`fr`): the declared language's, else the one detected in the
    /// visitor's messages; `unknown` for conversations without either.
    #[schemars(regex(pattern = r"^([a-z]{2,3}|unknown)$"))]
    pub language: Option<String>,
    /// Started on or after this day (`YYYY-MM-DD`), in the website's time zone (or `tz`).
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Started on or before this day.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// An IANA time zone whose days `from` and `to` are, instead of each website's own.
    pub tz: Option<String>,
    /// Only the conversations a statistic counted (`GET /v1/stats` gives the link of each).
    #[schemars(extend("enum" = ["started", "loaded", "engaged", "loaded_engaged",
        "engaged_without_load", "cta_clicked", "contact_submitted", "escalated", "rated",
        "bot_answered", "agent_answered", "handoff_answered", "waiting_for_human",
        "contained", "abandoned", "closed", "reopened", "resolved", "satisfied"]))]
    pub population: Option<String>,
    /// Only conversations from this address, or from this range in CIDR notation
    /// (`203.0.113.0/24`, `2001:db8::/32`). On a website that anonymises addresses, the stored
    /// network of an address matches it. Addresses leave with the retention job; older
    /// conversations are then found by no address.
    pub ip: Option<String>,
    /// Only conversations of this priority (see `priority` in the rows).
    #[schemars(extend("enum" = ["urgent", "high", "normal", "low"]))]
    pub priority: Option<String>,
    /// Only conversations with this outcome (see `outcome` in the rows).
    #[schemars(extend("enum" = ["contained", "handed_off", "abandoned", "open"]))]
    pub outcome: Option<String>,
    /// The page the widget loaded on; empty for conversations whose widget never loaded.
    pub page_url: Option<String>,
    #[schemars(range(min = 1, max = 5))]
    pub rating: Option<i16>,
    pub has_contact: Option<bool>,
    pub requires_human: Option<bool>,
    /// Text a message of the conversation contains.
    pub q: Option<String>,
    /// `-last_activity_at` (default), `last_activity_at`, `-first_seen_at`, `first_seen_at`,
    /// `handoff_at` / `-handoff_at`, which list only handed-off conversations
    /// (`population=waiting_for_human&sort=handoff_at`: waiting longest first), or
    /// `-priority` (most urgent first, then latest activity) / `priority`.
    #[schemars(extend("enum" = ["-last_activity_at", "last_activity_at", "-first_seen_at",
        "first_seen_at", "-handoff_at", "handoff_at", "-priority", "priority"]))]
    pub sort: Option<String>,
    pub cursor: Option<String>,
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<i64>,
}

/// An address, or an address and a prefix length its family allows.
fn valid_ip(value: &str) -> bool {
    let (address, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let Ok(address) = address.parse::<std::net::IpAddr>() else {
        return false;
    };
    let longest = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= longest))
}

/// A conversation's outcomes, as `outcome` names them.
const OUTCOMES: [&str; 4] = ["contained", "handed_off", "abandoned", "open"];

impl ListParams {
    /// The filter these parameters ask for; `tz` must be a zone [`check_tz`] accepted.
    pub fn filter(&self, scope: &Scope) -> Result<Filter, ApiError> {
        if let Some(s) = &self.status
            && !["loaded", "active", "closed"].contains(&s.as_str())
        {
            return Err(ApiError::BadRequest(
                "status: must be loaded, active or closed".into(),
            ));
        }
        let population = match self.population.as_deref() {
            None => None,
            Some(name) => Some(Population::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Population::ALL.iter().map(|p| p.name()).collect();
                ApiError::BadRequest(format!("population: one of {}", names.join(", ")))
            })?),
        };
        if let Some(ip) = &self.ip
            && !valid_ip(ip)
        {
            return Err(ApiError::BadRequest(
                "ip: an IPv4 or IPv6 address, or a range in CIDR notation such as 203.0.113.0/24"
                    .into(),
            ));
        }
        if let Some(l) = &self.language
            && !(l == "unknown"
                || ((2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase())))
        {
            return Err(ApiError::BadRequest(
                "language: a language subtag in lower case (fr), or unknown".into(),
            ));
        }
        if let Some(c) = &self.country
            && !(c == "unknown" || (c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())))
        {
            return Err(ApiError::BadRequest(
                "country: an ISO 3166-1 alpha-2 code in capitals (FR), or unknown".into(),
            ));
        }
        let priority = match self.priority.as_deref() {
            None => None,
            Some(name) => Some(Priority::parse(name).ok_or_else(|| {
                ApiError::BadRequest("priority: one of urgent, high, normal, low".into())
            })?),
        };
        if let Some(o) = &self.outcome
            && !OUTCOMES.contains(&o.as_str())
        {
            return Err(ApiError::BadRequest(format!(
                "outcome: one of {}",
                OUTCOMES.join(", ")
            )));
        }
        if self.rating.is_some_and(|r| !(1..=5).contains(&r)) {
            return Err(ApiError::BadRequest("rating: must be 1 to 5".into()));
        }
        let started = if self.from.is_some() || self.to.is_some() {
            let days = Days::parse(self.from.as_deref(), self.to.as_deref(), 3_650)?;
            Some((days.from, days.to))
        } else {
            None
        };
        Ok(Filter {
            websites: scope.narrow(self.website_id.as_deref())?,
            status: self.status.clone(),
            channel: self.channel.clone(),
            device: self.device.clone(),
            country: self.country.clone(),
            language: self.language.clone(),
            started,
            zone: Zone(self.tz.clone()),
            population,
            page_url: self.page_url.clone(),
            rating: self.rating,
            has_contact: self.has_contact,
            requires_human: self.requires_human,
            text: self.q.clone().filter(|q| !q.trim().is_empty()),
            outcome: self.outcome.clone(),
            ip: self.ip.clone(),
            priority,
        })
    }

    pub fn sort(&self) -> Result<Sort, ApiError> {
        match &self.sort {
            None => Ok(Sort::DEFAULT),
            Some(s) => Sort::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("sort: one of {}", Sort::names()))),
        }
    }
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<ConversationRow, answers::Cursor>>, ApiError> {
    check_tz(&state.pool, params.tz.as_deref()).await?;
    let filter = params.filter(&admin.scope)?;
    let sort = params.sort()?;
    let limit = limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = params
        .cursor
        .as_deref()
        .map(Cursor::decode)
        .transpose()?
        .map(|c| store::After {
            rank: c.rank,
            at: c.at,
            website_id: c.website_id,
            conversation_id: c.id,
        });
    // The page and its total on two connections at once.
    let (rows, total) = tokio::try_join!(
        store::list(&state.pool, &filter, sort, after, limit),
        store::count(&state.pool, &filter),
    )?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            let after = sort.after(r);
            Cursor {
                rank: after.rank,
                at: after.at,
                website_id: after.website_id,
                id: after.conversation_id,
            }
            .encode()
        });
    let paging = answers::Cursor {
        count: rows.len(),
        total: total.count,
        total_capped: total.capped,
        next_cursor,
    };
    Ok(Json(Page::new(rows, paging, as_of)))
}

impl Listed for ConversationRow {
    const KEY: &'static str = "conversations";
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailParams {
    pub website_id: Option<String>,
    #[schemars(range(min = 1, max = MAX_MESSAGES))]
    pub limit: Option<i64>,
}

/// The one conversation `id` names within the request's scope.
pub async fn find_one(
    state: &AppState,
    scope: &Scope,
    website_id: Option<&str>,
    id: &str,
) -> Result<ConversationRow, ApiError> {
    let websites = scope.narrow(website_id)?;
    let found = store::find(&state.pool, websites.as_deref(), id).await?;
    the_one(found, "conversation")
}

pub async fn detail(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Path(id): Path<String>,
    Params(params): Params<DetailParams>,
) -> Result<Json<Read<ConversationDetail>>, ApiError> {
    let limit = limit(params.limit, MAX_MESSAGES, MAX_MESSAGES)?;
    let conversation = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let (website, id) = (&conversation.website_id, &conversation.conversation_id);
    let (messages, actions, same_address) = tokio::try_join!(
        store::messages(&state.pool, website, id, limit),
        crate::store::actions::on(&state.pool, website, id),
        store::same_address(&state.pool, website, id),
    )?;
    let detail = ConversationDetail {
        conversation,
        messages,
        actions,
        same_address_conversations: same_address.map(|(n, _)| n),
        same_address_capped: same_address.is_some_and(|(_, capped)| capped),
    };
    read(detail, as_of)
}

/// A conversation with its messages, oldest first, and the admin actions taken on it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConversationDetail {
    pub conversation: ConversationRow,
    pub messages: Vec<MessageRow>,
    /// The admin actions taken on it and the token that took each.
    pub actions: Vec<ActionRow>,
    /// Other conversations of the website from the same address (or stored network), among
    /// those whose address retention has not cleared yet, exact up to 1,000; null when this
    /// one has none. `GET /v1/conversations?ip=` lists them.
    pub same_address_conversations: Option<i64>,
    /// More than 1,000 came from it: `same_address_conversations` is 1,000.
    pub same_address_capped: bool,
}

/// A conversation as it is after an action.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OneConversation {
    pub conversation: ConversationRow,
}

/// A message as it is after an action.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OneMessage {
    pub message: Option<MessageRow>,
}

/// Closes a conversation (`conversation.closed`, reason `admin`); answers with it.
pub async fn close_conversation(
    state: &AppState,
    admin: &Admin,
    website_id: Option<&str>,
    id: &str,
) -> Result<Action<OneConversation>, ApiError> {
    let scope = &admin.scope;
    let conversation = find_one(state, scope, website_id, id).await?;
    let event = actions::event(
        &conversation.website_id,
        &conversation.conversation_id,
        Payload::ConversationClosed(ConversationClosed {
            reason: CloseReason::Admin,
        }),
    );
    let outcome = actions::submit(state, &admin.actor, event).await?;
    let now = find_one(state, scope, Some(&conversation.website_id), id).await?;
    Ok(acted(outcome, OneConversation { conversation: now }))
}

pub async fn close(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ActionParams>,
) -> Result<Action<OneConversation>, ApiError> {
    close_conversation(&state, &admin, params.website_id.as_deref(), &id).await
}

/// What `PUT /v1/conversations/{id}/priority` sets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// `urgent`, `high`, `normal` or `low`; `null` (or absent) clears it, and the conversation
    /// reads `high` while flagged for a human, else `normal`.
    pub priority: Option<Priority>,
}

/// Sets a conversation's priority (`conversation.priority_changed`); answers with it.
pub async fn set_priority(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ActionParams>,
    Body(body): Body<PriorityBody>,
) -> Result<Action<OneConversation>, ApiError> {
    let scope = &admin.scope;
    let conversation = find_one(&state, scope, params.website_id.as_deref(), &id).await?;
    let event = actions::event(
        &conversation.website_id,
        &conversation.conversation_id,
        Payload::ConversationPriorityChanged(ConversationPriority {
            priority: body.priority,
        }),
    );
    let outcome = actions::submit(&state, &admin.actor, event).await?;
    let now = find_one(&state, scope, Some(&conversation.website_id), &id).await?;
    Ok(acted(outcome, OneConversation { conversation: now }))
}

/// The query of an action on one conversation or message: which website it is on, when the
/// token sees several.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionParams {
    pub website_id: Option<String>,
}

/// Flags a message for a human, or marks that a human replied; answers with the message.
pub async fn mark_message(
    state: &AppState,
    admin: &Admin,
    website_id: Option<&str>,
    id: &str,
    replied: bool,
) -> Result<Action<OneMessage>, ApiError> {
    let websites = admin.scope.narrow(website_id)?;
    let found = store::find_message(&state.pool, websites.as_deref(), id)
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    let message = found.message;
    let target = MessageRef {
        message_id: message
            .message_id
            .clone()
            .unwrap_or_else(|| message.id.to_string()),
    };
    let payload = if replied {
        Payload::MessageHumanReplied(target)
    } else {
        Payload::MessageFlaggedForHuman(target)
    };
    let event = actions::event(&found.website_id, &found.conversation_id, payload);
    let outcome = actions::submit(state, &admin.actor, event).await?;
    let now = store::find_message(
        &state.pool,
        Some(&[found.website_id]),
        &message.id.to_string(),
    )
    .await?
    .map(|f| f.message);
    Ok(acted(outcome, OneMessage { message: now }))
}

pub async fn flag(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ActionParams>,
) -> Result<Action<OneMessage>, ApiError> {
    mark_message(&state, &admin, params.website_id.as_deref(), &id, false).await
}

pub async fn replied(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ActionParams>,
) -> Result<Action<OneMessage>, ApiError> {
    mark_message(&state, &admin, params.website_id.as_deref(), &id, true).await
}
