//! `GET /v1/conversations` and `GET /v1/conversations/{id}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::store::conversations as store;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
const MAX_MESSAGES: i64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    website_id: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let rows = store::list(&state.pool, params.website_id.as_deref(), limit).await?;
    Ok(Json(json!({ "conversations": rows, "count": rows.len() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailParams {
    website_id: Option<String>,
}

pub async fn detail(
    _: Admin,
    State(state): State<AppState>,
    Path(conversation_id): Path<String>,
    params: Result<Query<DetailParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut found =
        store::find(&state.pool, params.website_id.as_deref(), &conversation_id).await?;
    if found.len() > 1 {
        return Err(ApiError::BadRequest(
            "conversation id exists in several websites; add ?website_id=".into(),
        ));
    }
    let conversation = found.pop().ok_or(ApiError::NotFound("conversation"))?;
    let messages = store::messages(
        &state.pool,
        &conversation.website_id,
        &conversation.conversation_id,
        MAX_MESSAGES,
    )
    .await?;
    Ok(Json(
        json!({ "conversation": conversation, "messages": messages }),
    ))
}
