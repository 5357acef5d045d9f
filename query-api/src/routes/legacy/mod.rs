//! The routes existing dashboards call, with their exact paths and response shapes. They run
//! on the same views and actions as `/v1` and need the same admin token.

use axum::Json;
use axum::extract::{Path, State};
use chrono::Utc;
use runtime::documented::{Api, Doc, doc};
use serde::Deserialize;

use super::answers::{Action, Body};
use super::conversations::{self, MAX_LIMIT, MAX_MESSAGES, OneConversation, OneMessage, find_one};
use super::params::{Days, Params, limit};
use super::requests::{self, StatusBody};
use super::{contacts, stats};
use crate::AppState;
use crate::actions::Outcome;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::export::{self, Exported, Format};
use crate::store::conversations::{self as store, ConversationRow, Filter, Sort};
use crate::store::days::LocalDays;
use crate::store::exports;

mod answers;
use answers::*;

pub fn routes(api: Api<AppState>) -> Api<AppState> {
    const fn legacy(summary: &'static str) -> Doc {
        doc("legacy", summary)
    }
    api.get(
        "/admin/conversations",
        legacy("Active conversations"),
        admin_conversations,
    )
    .get(
        "/admin/conversations/{id}",
        legacy("One conversation and its messages"),
        admin_conversation,
    )
    .get(
        "/admin/conversations/{id}/messages",
        legacy("A conversation's messages"),
        admin_messages,
    )
    .post(
        "/admin/conversations/{id}/close",
        legacy("Close a conversation"),
        admin_close,
    )
    .post(
        "/admin/messages/{id}/mark-human",
        legacy("Flag a message for a human"),
        mark_human,
    )
    .post(
        "/admin/messages/{id}/mark-replied",
        legacy("Mark that a human replied"),
        mark_replied,
    )
    .get("/admin/stats", legacy("Conversation totals"), admin_stats)
    .get(
        "/api/contact/requests",
        legacy("Contact requests"),
        contact_requests,
    )
    .patch(
        "/api/contact/request/{id}/status",
        legacy("Move a contact request"),
        contact_request_status,
    )
    .get(
        "/analytics/summary",
        legacy("Analytics of a date range"),
        analytics_summary,
    )
    .get(
        "/analytics/export",
        legacy("Raw events as CSV"),
        analytics_export,
    )
    .get(
        "/api/v1/contacts",
        legacy("Contacts, a page at a time"),
        contacts_v1,
    )
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    website_id: Option<String>,
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    limit: Option<i64>,
}

/// The query of the routes on one conversation, whose `limit` counts messages.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageLimitParams {
    website_id: Option<String>,
    #[schemars(range(min = 1, max = MAX_MESSAGES))]
    limit: Option<i64>,
}

/// `GET /admin/conversations`: the active conversations, newest activity first.
async fn admin_conversations(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<LimitParams>,
) -> Result<Json<Succeeded<Conversations>>, ApiError> {
    let limit = limit(params.limit, 100, MAX_LIMIT)?;
    let filter = Filter {
        websites: admin.scope.narrow(params.website_id.as_deref())?,
        status: Some("active".into()),
        ..Filter::default()
    };
    let rows = store::list(&state.pool, &filter, Sort::DEFAULT, None, limit).await?;
    let conversations: Vec<LegacyConversation> = rows.into_iter().map(Into::into).collect();
    Ok(Json(succeeded(Conversations {
        count: conversations.len(),
        conversations,
    })))
}

async fn messages_of(
    state: &AppState,
    conversation: &ConversationRow,
    limit: i64,
) -> Result<Vec<LegacyMessage>, ApiError> {
    let messages = store::messages(
        &state.pool,
        &conversation.website_id,
        &conversation.conversation_id,
        limit,
    )
    .await?;
    Ok(messages
        .into_iter()
        .map(|m| LegacyMessage::new(&conversation.conversation_id, m))
        .collect())
}

async fn admin_conversation(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<MessageLimitParams>,
) -> Result<Json<Succeeded<ConversationAndMessages>>, ApiError> {
    let limit = limit(params.limit, MAX_MESSAGES, MAX_MESSAGES)?;
    let conversation = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let messages = messages_of(&state, &conversation, limit).await?;
    Ok(Json(succeeded(ConversationAndMessages {
        conversation: conversation.into(),
        messages,
    })))
}

async fn admin_messages(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<MessageLimitParams>,
) -> Result<Json<Succeeded<Messages>>, ApiError> {
    let limit = limit(params.limit, 50, MAX_MESSAGES)?;
    let conversation = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let messages = messages_of(&state, &conversation, limit).await?;
    Ok(Json(succeeded(Messages {
        count: messages.len(),
        messages,
    })))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebsiteParams {
    website_id: Option<String>,
}

async fn admin_close(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<WebsiteParams>,
) -> Result<Action<Succeeded<OneConversation>>, ApiError> {
    let closed =
        conversations::close_conversation(&state, &admin, params.website_id.as_deref(), &id)
            .await?;
    Ok(closed.map(succeeded))
}

async fn mark_human(
    admin: Admin,
    state: State<AppState>,
    id: Path<String>,
    params: Params<conversations::ActionParams>,
) -> Result<Action<Succeeded<OneMessage>>, ApiError> {
    Ok(conversations::flag(admin, state, id, params)
        .await?
        .map(succeeded))
}

async fn mark_replied(
    admin: Admin,
    state: State<AppState>,
    id: Path<String>,
    params: Params<conversations::ActionParams>,
) -> Result<Action<Succeeded<OneMessage>>, ApiError> {
    Ok(conversations::replied(admin, state, id, params)
        .await?
        .map(succeeded))
}

/// `GET /admin/stats`: totals over every conversation the token sees.
async fn admin_stats(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<WebsiteParams>,
) -> Result<Json<Succeeded<Stats>>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let totals = store::dashboard_totals(&state.pool, websites.as_deref()).await?;
    Ok(Json(succeeded(Stats {
        stats: Totals {
            total_conversations: totals.conversations,
            active_conversations: totals.active,
            total_messages: totals.messages,
            messages_requiring_human: totals.waiting_for_human,
            timestamp: Utc::now(),
        },
    })))
}

/// `GET /api/contact/requests`: a bare JSON array, newest first.
async fn contact_requests(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<requests::WhichRequests>,
) -> Result<Json<Vec<LegacyRequest>>, ApiError> {
    let params = requests::ListParams {
        website_id: params.website_id,
        status: params.status,
        page: None,
        limit: Some(1_000),
    };
    let (rows, _, _) = requests::page_of(&state, &admin.scope, &params).await?;
    Ok(Json(rows.into_iter().map(LegacyRequest::from).collect()))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LegacyStatus {
    #[schemars(extend("enum" = ["pending", "contacted", "resolved"]))]
    status: String,
    notes: Option<String>,
}

async fn contact_request_status(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<WebsiteParams>,
    Body(body): Body<LegacyStatus>,
) -> Result<Moved, ApiError> {
    let body = StatusBody {
        status: body.status,
        expected_status: None,
        notes: body.notes,
    };
    let (outcome, request) =
        requests::move_request(&state, &admin, params.website_id.as_deref(), &id, body).await?;
    Ok(Moved {
        accepted: matches!(outcome, Outcome::Pending(_)),
        body: succeeded(MovedRequest {
            id: request.request_id,
            status: request.status,
            notes: request.notes,
            event_id: outcome.event_id(),
        }),
    })
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    website_id: Option<String>,
    #[schemars(with = "Option<chrono::NaiveDate>")]
    start_date: Option<String>,
    #[schemars(with = "Option<chrono::NaiveDate>")]
    end_date: Option<String>,
}

/// `GET /analytics/summary`: the old three numbers, then every native statistic.
async fn analytics_summary(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<RangeParams>,
) -> Result<Json<Summary>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let days = Days::parse(params.start_date.as_deref(), params.end_date.as_deref(), 30)?;
    let period = stats::period_of(&state.pool, websites.as_deref(), days).await?;
    Ok(Json(Summary {
        total_messages: period.figures.messages,
        unique_users: period.figures.unique_visitors,
        period,
    }))
}

/// `GET /analytics/export`: every event of the range as CSV (or another `format`), in the old
/// columns.
async fn analytics_export(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<ExportParams>,
) -> Result<Exported, ApiError> {
    let format = Format::parse(
        params.format.as_deref(),
        params.bom.as_deref(),
        params.separator.as_deref(),
    )?;
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let days = Days::parse(
        params.start_date.as_deref(),
        params.end_date.as_deref(),
        3_650,
    )?;
    // The website's days, as the summary beside it counts them.
    let export =
        exports::legacy_events(websites.as_deref(), LocalDays::Between(days.from, days.to));
    export::respond(&state, &admin, format, "events", export).await
}

/// What `GET /analytics/export` takes: the range, and the export's format.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    website_id: Option<String>,
    /// First day (`YYYY-MM-DD`), in each website's time zone.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    start_date: Option<String>,
    #[schemars(with = "Option<chrono::NaiveDate>")]
    end_date: Option<String>,
    /// `csv` (the default, the old export), `json`, `ndjson` or `xlsx`.
    #[schemars(extend("enum" = ["csv", "json", "ndjson", "xlsx"]))]
    format: Option<String>,
    /// CSV only: `true` for a UTF-8 byte-order mark.
    #[schemars(extend("enum" = ["true", "false"]))]
    bom: Option<String>,
    /// CSV only: `,` (the default) or `;`.
    #[schemars(extend("enum" = [",", ";"]))]
    separator: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactsParams {
    website_id: Option<String>,
    #[schemars(range(min = 1, max = 1_000_000))]
    page: Option<i64>,
    #[schemars(range(min = 1, max = contacts::MAX_LIMIT))]
    per_page: Option<i64>,
    channel: Option<String>,
    q: Option<String>,
}

/// `GET /api/v1/contacts`: `{contacts: [{id, name, email, phone, channel, created_at}], total, page}`.
async fn contacts_v1(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<ContactsParams>,
) -> Result<Json<LegacyContacts>, ApiError> {
    let params = contacts::ListParams {
        website_id: params.website_id,
        q: params.q,
        channel: params.channel,
        page: params.page,
        limit: params.per_page,
        ..contacts::ListParams::default()
    };
    let (rows, total, page) = contacts::page_of(&state, &admin.scope, &params).await?;
    let contacts = rows
        .into_iter()
        .map(|c| LegacyContact {
            id: c.contact_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            channel: c.channel,
            created_at: c.first_seen_at,
            last_activity_at: c.last_activity_at,
            conversation_count: c.conversation_count,
            lead_status: c.lead_status,
        })
        .collect();
    Ok(Json(LegacyContacts {
        contacts,
        total: total.count,
        total_capped: total.capped,
        page,
    }))
}
