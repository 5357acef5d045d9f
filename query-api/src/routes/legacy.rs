//! The routes existing dashboards call, with their exact paths and response shapes. They run
//! on the same views and actions as `/v1` and need the same admin token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runtime::documented::{Answer, Api, Doc, doc, json_content, response};
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

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
use crate::store::conversations::{self as store, ConversationRow, Filter, MessageRow, Sort};
use crate::store::days::LocalDays;
use crate::store::exports;
use crate::store::requests::RequestRow;

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

/// `{"success": true, …}`: what the old dashboards check first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Succeeded<T> {
    /// Always true: a failure is an error answer.
    pub success: bool,
    #[serde(flatten)]
    pub body: T,
}

fn succeeded<T>(body: T) -> Succeeded<T> {
    Succeeded {
        success: true,
        body,
    }
}

/// A conversation with the field names the old dashboards read, beside the native ones.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyConversation {
    #[serde(flatten)]
    pub conversation: ConversationRow,
    /// `conversation_id`.
    pub id: String,
    /// `customer_id`.
    pub user_id: Option<String>,
    /// `channel`.
    pub platform: String,
    /// `first_seen_at`.
    pub created_at: DateTime<Utc>,
    /// `last_activity_at`.
    pub updated_at: DateTime<Utc>,
}

impl From<ConversationRow> for LegacyConversation {
    fn from(c: ConversationRow) -> Self {
        Self {
            id: c.conversation_id.clone(),
            user_id: c.customer_id.clone(),
            platform: c.channel.clone(),
            created_at: c.first_seen_at,
            updated_at: c.last_activity_at,
            conversation: c,
        }
    }
}

/// A message with the field names the old dashboards read, beside the native ones.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyMessage {
    #[serde(flatten)]
    pub message: MessageRow,
    pub conversation_id: String,
    /// `sender`.
    pub sender_type: String,
    /// `text`.
    pub content: Option<String>,
    /// `sent_at`.
    pub timestamp: DateTime<Utc>,
}

impl LegacyMessage {
    fn new(conversation_id: &str, m: MessageRow) -> Self {
        Self {
            conversation_id: conversation_id.to_owned(),
            sender_type: m.sender.clone(),
            content: m.text.clone(),
            timestamp: m.sent_at,
            message: m,
        }
    }
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
    let rows = store::list(&state.pool, &filter, Sort::LastActivityDesc, None, limit).await?;
    let conversations: Vec<LegacyConversation> = rows.into_iter().map(Into::into).collect();
    Ok(Json(succeeded(Conversations {
        count: conversations.len(),
        conversations,
    })))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Conversations {
    pub conversations: Vec<LegacyConversation>,
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConversationAndMessages {
    pub conversation: LegacyConversation,
    pub messages: Vec<LegacyMessage>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Messages {
    pub messages: Vec<LegacyMessage>,
    pub count: usize,
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct Stats {
    pub stats: Totals,
}

/// Totals over every conversation of the websites asked for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Totals {
    pub total_conversations: i64,
    pub active_conversations: i64,
    pub total_messages: i64,
    /// Messages flagged for a human that no human has replied to yet.
    pub messages_requiring_human: i64,
    /// When the totals were read.
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestParams {
    website_id: Option<String>,
    #[schemars(extend("enum" = ["pending", "contacted", "resolved"]))]
    status: Option<String>,
}

/// `GET /api/contact/requests`: a bare JSON array, newest first.
async fn contact_requests(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<RequestParams>,
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

/// A contact request as the old dashboards read it: `request_id` is `id` as well.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyRequest {
    pub id: String,
    #[serde(flatten)]
    pub request: RequestRow,
}

impl From<RequestRow> for LegacyRequest {
    fn from(request: RequestRow) -> Self {
        Self {
            id: request.request_id.clone(),
            request,
        }
    }
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

/// A request moved, as the old dashboards read it: 200 once the projector applied the move,
/// 202 while it has not (the request is then as it was). `status` is the request's.
pub struct Moved {
    accepted: bool,
    body: Succeeded<MovedRequest>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MovedRequest {
    pub id: String,
    pub status: String,
    pub notes: Option<String>,
    pub event_id: Uuid,
}

impl IntoResponse for Moved {
    fn into_response(self) -> Response {
        let status = if self.accepted {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        (status, Json(self.body)).into_response()
    }
}

impl Answer for Moved {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        let schema = g.subschema_for::<Succeeded<MovedRequest>>();
        let mut out = response("200", "the move is applied", json_content(schema.clone()));
        out.extend(response(
            "202",
            "the move is stored and will be applied; the request is as it was",
            json_content(schema),
        ));
        out.extend(response(
            "409",
            "the move is not possible from the request's status",
            None,
        ));
        out
    }
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

/// The old summary's numbers beside every native statistic of the range.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Summary {
    #[serde(flatten)]
    pub period: stats::Period,
    /// `messages`.
    pub total_messages: i64,
    /// `unique_visitors`.
    pub unique_users: i64,
}

/// `GET /analytics/export`: every event of the range as CSV, in the old columns.
async fn analytics_export(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<RangeParams>,
) -> Result<Exported, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let days = Days::parse(
        params.start_date.as_deref(),
        params.end_date.as_deref(),
        3_650,
    )?;
    // The website's days, as the summary beside it counts them.
    let export =
        exports::legacy_events(websites.as_deref(), LocalDays::Between(days.from, days.to));
    export::respond(&state, &admin, Format::Csv, "events", export).await
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyContacts {
    pub contacts: Vec<LegacyContact>,
    pub total: i64,
    pub total_capped: bool,
    pub page: i64,
}

/// A contact as the old dashboards read it: `contact_id` is `id`, `first_seen_at`
/// `created_at`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyContact {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub conversation_count: i64,
    pub lead_status: String,
}
