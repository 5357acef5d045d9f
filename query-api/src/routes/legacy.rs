//! The routes existing dashboards call, with their exact paths and response shapes. They run
//! on the same views and actions as `/v1` and need the same admin token.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conversations::{self, MAX_LIMIT, MAX_MESSAGES, find_one};
use super::params::{Days, Params, limit};
use super::read_json;
use super::requests::{self, StatusBody};
use super::{contacts, stats};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::export::{self, Format};
use crate::store::conversations::{self as store, ConversationRow, Filter, MessageRow, Sort};
use crate::store::days::LocalDays;
use crate::store::exports;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/conversations", get(admin_conversations))
        .route("/admin/conversations/{id}", get(admin_conversation))
        .route("/admin/conversations/{id}/messages", get(admin_messages))
        .route("/admin/conversations/{id}/close", post(admin_close))
        .route("/admin/messages/{id}/mark-human", post(mark_human))
        .route("/admin/messages/{id}/mark-replied", post(mark_replied))
        .route("/admin/stats", get(admin_stats))
        .route("/api/contact/requests", get(contact_requests))
        .route(
            "/api/contact/request/{id}/status",
            patch(contact_request_status),
        )
        .route("/analytics/summary", get(analytics_summary))
        .route("/analytics/export", get(analytics_export))
        .route("/api/v1/contacts", get(contacts_v1))
}

/// A conversation with the field names the old dashboards read, beside the native ones.
fn legacy_conversation(c: &ConversationRow) -> Value {
    let mut v = json!(c);
    v["id"] = json!(c.conversation_id);
    v["user_id"] = json!(c.customer_id);
    v["platform"] = json!(c.channel);
    v["created_at"] = json!(c.first_seen_at);
    v["updated_at"] = json!(c.last_activity_at);
    v
}

fn legacy_message(conversation_id: &str, m: &MessageRow) -> Value {
    let mut v = json!(m);
    v["conversation_id"] = json!(conversation_id);
    v["sender_type"] = json!(m.sender);
    v["content"] = json!(m.text);
    v["timestamp"] = json!(m.sent_at);
    v
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
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 100, MAX_LIMIT)?;
    let filter = Filter {
        websites: admin.scope.narrow(params.website_id.as_deref())?,
        status: Some("active".into()),
        ..Filter::default()
    };
    let rows = store::list(&state.pool, &filter, Sort::LastActivityDesc, None, limit).await?;
    let conversations: Vec<Value> = rows.iter().map(legacy_conversation).collect();
    Ok(Json(json!({
        "success": true,
        "conversations": conversations,
        "count": conversations.len(),
    })))
}

async fn messages_of(
    state: &AppState,
    conversation: &ConversationRow,
    limit: i64,
) -> Result<Vec<Value>, ApiError> {
    let messages = store::messages(
        &state.pool,
        &conversation.website_id,
        &conversation.conversation_id,
        limit,
    )
    .await?;
    Ok(messages
        .iter()
        .map(|m| legacy_message(&conversation.conversation_id, m))
        .collect())
}

async fn admin_conversation(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<MessageLimitParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, MAX_MESSAGES, MAX_MESSAGES)?;
    let conversation = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let messages = messages_of(&state, &conversation, limit).await?;
    Ok(Json(json!({
        "success": true,
        "conversation": legacy_conversation(&conversation),
        "messages": messages,
    })))
}

async fn admin_messages(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<MessageLimitParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(params.limit, 50, MAX_MESSAGES)?;
    let conversation = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let messages = messages_of(&state, &conversation, limit).await?;
    Ok(Json(json!({
        "success": true,
        "messages": messages,
        "count": messages.len(),
    })))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebsiteParams {
    website_id: Option<String>,
}

/// Wraps an action's answer in `{"success": true, …}`, keeping its status.
async fn with_success(response: Response) -> Response {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
    body["success"] = json!(true);
    (status, Json(body)).into_response()
}

async fn admin_close(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<WebsiteParams>,
) -> Result<Response, ApiError> {
    let response =
        conversations::close_conversation(&state, &admin, params.website_id.as_deref(), &id)
            .await?;
    Ok(with_success(response).await)
}

async fn mark_human(
    admin: Admin,
    state: State<AppState>,
    id: Path<String>,
    params: Params<conversations::ActionParams>,
) -> Result<Response, ApiError> {
    Ok(with_success(conversations::flag(admin, state, id, params).await?).await)
}

async fn mark_replied(
    admin: Admin,
    state: State<AppState>,
    id: Path<String>,
    params: Params<conversations::ActionParams>,
) -> Result<Response, ApiError> {
    Ok(with_success(conversations::replied(admin, state, id, params).await?).await)
}

/// `GET /admin/stats`: totals over every conversation the token sees.
async fn admin_stats(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<WebsiteParams>,
) -> Result<Json<Value>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let totals = store::dashboard_totals(&state.pool, websites.as_deref()).await?;
    Ok(Json(json!({
        "success": true,
        "stats": {
            "total_conversations": totals.conversations,
            "active_conversations": totals.active,
            "total_messages": totals.messages,
            "messages_requiring_human": totals.waiting_for_human,
            "timestamp": Utc::now(),
        }
    })))
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
) -> Result<Json<Value>, ApiError> {
    let params = requests::ListParams {
        website_id: params.website_id,
        status: params.status,
        page: None,
        limit: Some(1_000),
    };
    let (rows, _, _) = requests::page_of(&state, &admin.scope, &params).await?;
    let array: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.request_id,
                "website_id": r.website_id,
                "conversation_id": r.conversation_id,
                "contact_id": r.contact_id,
                "name": r.name,
                "email": r.email,
                "phone": r.phone,
                "message": r.message,
                "chat_context": r.chat_context,
                "ip_address": r.ip_address,
                "user_agent": r.user_agent,
                "status": r.status,
                "notes": r.notes,
                "created_at": r.created_at,
                "contacted_at": r.contacted_at,
                "resolved_at": r.resolved_at,
            })
        })
        .collect();
    Ok(Json(Value::Array(array)))
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
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: LegacyStatus = read_json(&body)?;
    let body = StatusBody {
        status: body.status,
        expected_status: None,
        notes: body.notes,
    };
    let (outcome, request) =
        requests::move_request(&state, &admin, params.website_id.as_deref(), &id, body).await?;
    let status = match outcome {
        crate::actions::Outcome::Applied(_) => axum::http::StatusCode::OK,
        crate::actions::Outcome::Pending(_) => axum::http::StatusCode::ACCEPTED,
    };
    Ok((
        status,
        Json(json!({
            "success": true,
            "id": request.request_id,
            "status": request.status,
            "notes": request.notes,
            "event_id": outcome.event_id(),
        })),
    )
        .into_response())
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
) -> Result<Json<Value>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let days = Days::parse(params.start_date.as_deref(), params.end_date.as_deref(), 30)?;
    let mut body = stats::period_of(&state.pool, websites.as_deref(), days).await?;
    body["total_messages"] = body["messages"].clone();
    body["unique_users"] = body["unique_visitors"].clone();
    Ok(Json(body))
}

/// `GET /analytics/export`: every event of the range as CSV, in the old columns.
async fn analytics_export(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<RangeParams>,
) -> Result<Response, ApiError> {
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
) -> Result<Json<Value>, ApiError> {
    let params = contacts::ListParams {
        website_id: params.website_id,
        q: params.q,
        channel: params.channel,
        page: params.page,
        limit: params.per_page,
        ..contacts::ListParams::default()
    };
    let (rows, total, page) = contacts::page_of(&state, &admin.scope, &params).await?;
    let contacts: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.contact_id,
                "name": c.name,
                "email": c.email,
                "phone": c.phone,
                "channel": c.channel,
                "created_at": c.first_seen_at,
                "last_activity_at": c.last_activity_at,
                "conversation_count": c.conversation_count,
                "lead_status": c.lead_status,
            })
        })
        .collect();
    Ok(Json(
        json!({ "contacts": contacts, "total": total.count, "total_capped": total.capped, "page": page }),
    ))
}
