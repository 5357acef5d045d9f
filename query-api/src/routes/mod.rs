//! The route table, and what the handlers share: JSON bodies, action answers.

mod contacts;
mod conversations;
mod dashboard;
mod exports;
mod health;
mod legacy;
mod openapi;
pub(crate) mod params;
mod reports;
mod requests;
pub(crate) mod stats;
mod stream;
mod subjects;
mod tokens;
mod websites;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use schemas::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use crate::actions::Outcome;
use crate::auth::Admin;
use crate::error::ApiError;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/websites", get(websites::list).post(websites::create))
        .route(
            "/v1/websites/{id}/privacy",
            get(websites::privacy).put(websites::set_privacy),
        )
        .route(
            "/v1/websites/{id}/reports",
            get(websites::reports).put(websites::set_reports),
        )
        .route(
            "/v1/websites/{id}/time_zone",
            get(websites::time_zone).put(websites::set_time_zone),
        )
        .route("/v1/tokens", get(tokens::list).post(tokens::create))
        .route(
            "/v1/tokens/{id}",
            get(tokens::detail).delete(tokens::revoke),
        )
        .route("/v1/conversations", get(conversations::list))
        .route("/v1/conversations/{id}", get(conversations::detail))
        .route("/v1/conversations/{id}/close", post(conversations::close))
        .route("/v1/messages/{id}/flag", post(conversations::flag))
        .route(
            "/v1/messages/{id}/human-replied",
            post(conversations::replied),
        )
        .route("/v1/contacts", get(contacts::list))
        .route("/v1/contacts/merge", post(contacts::merge))
        .route(
            "/v1/contacts/{id}",
            get(contacts::detail)
                .patch(contacts::update)
                .delete(contacts::erase),
        )
        .route("/v1/contact-requests", get(requests::list))
        .route(
            "/v1/contact-requests/{id}",
            get(requests::detail).patch(requests::change_status),
        )
        .route("/v1/subjects/export", get(subjects::export))
        .route("/v1/subjects/erase", post(subjects::erase))
        .route("/v1/stats", get(stats::stats))
        .route("/v1/stats/funnel", get(stats::funnel))
        .route("/v1/stats/breakdown", get(stats::breakdown))
        .route("/v1/exports/{kind}", get(exports::export))
        .route("/reports/weekly", post(reports::weekly))
        .merge(legacy::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            freshness_header,
        ))
        .route("/admin", get(dashboard::page))
        .route("/admin/assets/app.js", get(dashboard::script))
        .route("/admin/assets/app.css", get(dashboard::style))
        // A stream outlives any one position of the projector: no `X-As-Of`.
        .route("/v1/stream", get(stream::stream))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs))
        .route("/_liveness", get(health::liveness))
        .route("/_readiness", get(health::readiness))
        .with_state(state)
}

/// Every read, the legacy ones and the exports included, says how fresh it is in `X-As-Of`:
/// when the projector last committed. Read before the handler runs, so the data is at least
/// that fresh, and handed to the handler (as its `AsOf`), so it is read once per request.
///
/// Every route under it is an admin route: the token is checked first, so that a request
/// without a live token causes no other database work, and handed on as the handler's `Admin`.
async fn freshness_header(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = Admin::from_request_parts(&mut parts, &state).await {
        return refused.into_response();
    }
    let mut request = Request::from_parts(parts, body);
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let as_of = crate::freshness::as_of(&state.pool).await.ok();
    if let Some(as_of) = &as_of {
        request.extensions_mut().insert(as_of.clone());
    }
    let mut response = next.run(request).await;
    if let Some(at) = as_of.and_then(|a| a.projected_at)
        && let Ok(value) = HeaderValue::from_str(&at.to_rfc3339())
    {
        response.headers_mut().insert("x-as-of", value);
    }
    response
}

/// A JSON request body, or a 400 that says what is wrong with it.
fn read_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::BadRequest(if path == "." {
            format!("body: {}", e.into_inner())
        } else {
            format!("{path}: {}", e.into_inner())
        })
    })
}

fn bad_request(error: FieldError) -> ApiError {
    ApiError::BadRequest(error.to_string())
}

/// The answer to an admin action: `body` (the new state) with the event's id once the
/// projector applied it — 201 for a creation, else 200 — or 202 with the event id when it is
/// acknowledged by the broker but not applied yet.
fn answer(outcome: Outcome, mut body: Value, created: bool) -> Response {
    let event_id = outcome.event_id().to_string();
    match outcome {
        Outcome::Applied(_) => {
            body["event_id"] = json!(event_id);
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(body)).into_response()
        }
        Outcome::Pending(_) => {
            body["event_id"] = json!(event_id);
            body["status"] = json!("accepted");
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
    }
}
