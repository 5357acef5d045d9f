//! Contact requests: `GET /v1/contact-requests`, `GET /v1/contact-requests/{id}`, and
//! `PATCH /v1/contact-requests/{id}` to move one to another status.

use axum::Json;
use axum::extract::{Path, State};
use schemas::Payload;
use schemas::payloads::{ContactRequestStatusChanged, RequestStatus};
use serde::{Deserialize, Serialize};

use super::answers::{Action, Body, Listed, Numbered, Page, acted, the_one};
use super::bad_request;
use super::params::{Params, limit, page};
use crate::AppState;
use crate::actions::{self, Outcome};
use crate::auth::{Admin, Scope};
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::requests::{self as store, ChangeRow, RequestRow};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1_000;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub website_id: Option<String>,
    #[schemars(extend("enum" = ["pending", "contacted", "resolved"]))]
    pub status: Option<String>,
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page: Option<i64>,
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<i64>,
}

/// The request list's filters without paging: for the whole list at once (an export, the
/// legacy list).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhichRequests {
    pub website_id: Option<String>,
    #[schemars(extend("enum" = ["pending", "contacted", "resolved"]))]
    pub status: Option<String>,
}

pub(crate) fn status(value: &str) -> Result<RequestStatus, ApiError> {
    RequestStatus::parse(value)
        .ok_or_else(|| ApiError::BadRequest("status: one of pending, contacted, resolved".into()))
}

/// A page of requests, newest first, with the total matching.
pub async fn page_of(
    state: &AppState,
    scope: &Scope,
    params: &ListParams,
) -> Result<(Vec<RequestRow>, i64, i64), ApiError> {
    if let Some(s) = &params.status {
        status(s)?;
    }
    let websites = scope.narrow(params.website_id.as_deref())?;
    let limit = limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let page = page(params.page)?;
    let (rows, total) = store::list(
        &state.pool,
        websites.as_deref(),
        params.status.as_deref(),
        limit,
        (page - 1) * limit,
    )
    .await?;
    Ok((rows, total, page))
}

impl Listed for RequestRow {
    const KEY: &'static str = "requests";
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<RequestRow, Numbered>>, ApiError> {
    let (rows, total, page) = page_of(&state, &admin.scope, &params).await?;
    let paging = Numbered {
        total,
        // Requests are counted exactly.
        total_capped: false,
        page,
    };
    Ok(Json(Page::new(rows, paging, as_of)))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneParams {
    pub website_id: Option<String>,
}

pub async fn find_one(
    state: &AppState,
    scope: &Scope,
    website_id: Option<&str>,
    id: &str,
) -> Result<RequestRow, ApiError> {
    let websites = scope.narrow(website_id)?;
    let found = store::find(&state.pool, websites.as_deref(), id).await?;
    the_one(found, "contact request")
}

/// A request with every status change asked of it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RequestDetail {
    pub request: RequestRow,
    pub changes: Vec<ChangeRow>,
    pub as_of: AsOf,
}

pub async fn detail(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
) -> Result<Json<RequestDetail>, ApiError> {
    let request = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let changes = store::changes(&state.pool, &request.website_id, &request.request_id).await?;
    Ok(Json(RequestDetail {
        request,
        changes,
        as_of,
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    #[schemars(extend("enum" = ["pending", "contacted", "resolved"]))]
    pub status: String,
    /// The status the admin saw; the current one when absent.
    #[schemars(extend("enum" = ["pending", "contacted", "resolved"]))]
    pub expected_status: Option<String>,
    pub notes: Option<String>,
}

/// Moves a request to another status. An illegal move is refused at once (409); a move whose
/// expected status is stale by the time it is applied is recorded as rejected and answered 409
/// with the reason, so two admins cannot silently overwrite each other.
pub async fn move_request(
    state: &AppState,
    admin: &Admin,
    website_id: Option<&str>,
    id: &str,
    body: StatusBody,
) -> Result<(Outcome, RequestRow), ApiError> {
    let to = status(&body.status)?;
    let scope = &admin.scope;
    let request = find_one(state, scope, website_id, id).await?;
    let current = status(&request.status)?;
    let expected = match body.expected_status.as_deref() {
        Some(s) => status(s)?,
        None => current,
    };
    if expected != current {
        return Err(ApiError::Conflict(format!(
            "the request is {} now, not {}",
            current.as_str(),
            expected.as_str()
        )));
    }
    if !current.can_move_to(to) {
        return Err(ApiError::Conflict(format!(
            "a request cannot move from {} to {}",
            current.as_str(),
            to.as_str()
        )));
    }
    let payload = Payload::ContactRequestStatusChanged(ContactRequestStatusChanged {
        request_id: request.request_id.clone(),
        status: to,
        expected_status: expected,
        notes: body.notes,
    });
    payload.validate().map_err(bad_request)?;
    let event = actions::event(&request.website_id, &request.conversation_id, payload);
    let outcome = actions::submit(state, &admin.actor, event).await?;
    if let Outcome::Applied(event_id) = outcome
        && let Some(change) = store::change(&state.pool, event_id).await?
        && change.outcome.as_deref() == Some("rejected")
    {
        return Err(ApiError::Conflict(
            change
                .reason
                .unwrap_or_else(|| "the change was rejected".into()),
        ));
    }
    let now = find_one(state, scope, Some(&request.website_id), id).await?;
    Ok((outcome, now))
}

pub async fn change_status(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    Body(body): Body<StatusBody>,
) -> Result<Action<OneRequest>, ApiError> {
    let (outcome, request) =
        move_request(&state, &admin, params.website_id.as_deref(), &id, body).await?;
    Ok(acted(outcome, OneRequest { request }))
}

/// A request as it is after an action.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OneRequest {
    pub request: RequestRow,
}
