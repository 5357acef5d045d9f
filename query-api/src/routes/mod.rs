//! The route table ([`api`]), documented by the handlers' types, and what the handlers share.

pub(crate) mod answers;
mod contacts;
mod conversations;
mod dashboard;
mod exports;
mod health;
mod legacy;
pub mod metrics;
mod openapi;
pub(crate) mod params;
mod reports;
mod requests;
pub(crate) mod stats;
mod stream;
mod subjects;
mod tokens;
mod webhooks;
mod websites;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use runtime::documented::{Api, Doc, Published, doc};
use schemas::FieldError;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;

/// Every operation the query API serves, documented by its handler's types.
pub fn api() -> Api<AppState> {
    // Every admin route: behind the freshness middleware (below).
    let admin = Api::default()
        .get(
            "/v1/websites",
            doc("websites", "The websites the token sees"),
            websites::list,
        )
        .post(
            "/v1/websites",
            doc(
                "websites",
                "Create a website and its write key (website.created); bootstrap token only",
            ),
            websites::create,
        )
        .get(
            "/v1/websites/{id}/privacy",
            doc("websites", "A website's privacy settings"),
            websites::privacy,
        )
        .put(
            "/v1/websites/{id}/privacy",
            doc(
                "websites",
                "Set a website's privacy settings (website.privacy_changed); ingest applies them before events reach the topic",
            ),
            websites::set_privacy,
        )
        .get(
            "/v1/websites/{id}/reports",
            doc("reports", "Who receives a website's weekly report, and when"),
            websites::reports,
        )
        .put(
            "/v1/websites/{id}/reports",
            doc(
                "reports",
                "Set a website's weekly report recipients and schedule (website.reports_changed)",
            ),
            websites::set_reports,
        )
        .get(
            "/v1/websites/{id}/time_zone",
            doc(
                "websites",
                "The time zone a website's days are counted in (UTC until set)",
            ),
            websites::time_zone,
        )
        .put(
            "/v1/websites/{id}/time_zone",
            doc(
                "websites",
                "Set the time zone of a website's days: statistics, series and date filters (website.time_zone_changed)",
            ),
            websites::set_time_zone,
        )
        .get(
            "/v1/websites/{id}/bot_settings",
            doc(
                "websites",
                "How a website's bot is judged: the confidence below which an answer is unsure, and the idle minutes after which a conversation is over",
            ),
            websites::bot_settings,
        )
        .put(
            "/v1/websites/{id}/bot_settings",
            doc(
                "websites",
                "Set how a website's bot is judged (website.bot_settings_changed); a field left out keeps its value",
            ),
            websites::set_bot_settings,
        )
        .get(
            "/v1/websites/{id}/lead_keywords",
            doc(
                "websites",
                "The words that mark a lead's questions about pricing and requests for a demo or trial, for its lead score",
            ),
            websites::lead_keywords,
        )
        .put(
            "/v1/websites/{id}/lead_keywords",
            doc(
                "websites",
                "Set the lead keywords (website.lead_keywords_changed); a list left out keeps its words",
            ),
            websites::set_lead_keywords,
        )
        .get(
            "/v1/websites/{id}/webhooks",
            doc("webhooks", "The website's webhook endpoints, never their secrets"),
            webhooks::list,
        )
        .post(
            "/v1/websites/{id}/webhooks",
            doc(
                "webhooks",
                "Register a webhook endpoint (webhook.endpoint_changed); answers its signing secret, once",
            ),
            webhooks::create,
        )
        .get(
            "/v1/webhooks/{endpoint_id}",
            doc("webhooks", "One webhook endpoint, and whether it is failing or disabled"),
            webhooks::detail,
        )
        .patch(
            "/v1/webhooks/{endpoint_id}",
            doc(
                "webhooks",
                "Change or enable a webhook endpoint (webhook.endpoint_changed); a field left out stays",
            ),
            webhooks::update,
        )
        .delete(
            "/v1/webhooks/{endpoint_id}",
            doc(
                "webhooks",
                "Delete a webhook endpoint (webhook.endpoint_changed): what waits for it is dropped",
            ),
            webhooks::delete,
        )
        .post(
            "/v1/webhooks/{endpoint_id}/secret",
            doc(
                "webhooks",
                "A new signing secret, shown once; the old one signs too for WEBHOOK_SECRET_OVERLAP_S",
            ),
            webhooks::rotate_secret,
        )
        .post(
            "/v1/webhooks/{endpoint_id}/test",
            doc("webhooks", "Queue a webhook.test message to the endpoint"),
            webhooks::send_test,
        )
        .get(
            "/v1/webhooks/{endpoint_id}/deliveries",
            doc(
                "webhooks",
                "The endpoint's delivery log, newest first: each delivery with its attempts",
            ),
            webhooks::deliveries,
        )
        .post(
            "/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
            doc(
                "webhooks",
                "Send a delivered or failed delivery again, with the same webhook-id",
            ),
            webhooks::redeliver,
        )
        .get(
            "/v1/tokens",
            doc(
                "tokens",
                "The tokens whose websites this token sees, revoked and expired ones included; never the tokens themselves",
            ),
            tokens::list,
        )
        .post(
            "/v1/tokens",
            doc(
                "tokens",
                "Create a token limited to some websites (token.created)",
            ),
            tokens::create,
        )
        .get(
            "/v1/tokens/{id}",
            doc("tokens", "One token, by id (its digest)"),
            tokens::detail,
        )
        .delete(
            "/v1/tokens/{id}",
            doc(
                "tokens",
                "Revoke a token (token.revoked): refused everywhere once applied. A token that may not create tokens may revoke only itself",
            ),
            tokens::revoke,
        )
        .get(
            "/v1/conversations",
            doc(
                "conversations",
                "Conversations, filtered, sorted, a page at a time (keyset cursor)",
            ),
            conversations::list,
        )
        .get(
            "/v1/conversations/{id}",
            doc(
                "conversations",
                "One conversation with its messages and the admin actions taken on it",
            ),
            conversations::detail,
        )
        .post(
            "/v1/conversations/{id}/close",
            doc(
                "conversations",
                "Close a conversation (conversation.closed, reason admin)",
            ),
            conversations::close,
        )
        .put(
            "/v1/conversations/{id}/priority",
            doc(
                "conversations",
                "Set a conversation's priority (conversation.priority_changed)",
            ),
            conversations::set_priority,
        )
        .post(
            "/v1/messages/{id}/flag",
            doc(
                "conversations",
                "Flag a message for a human (by event id or message_id)",
            ),
            conversations::flag,
        )
        .post(
            "/v1/messages/{id}/human-replied",
            doc("conversations", "Mark that a human replied to a message"),
            conversations::replied,
        )
        .get(
            "/v1/contacts",
            doc(
                "contacts",
                "Contacts: search, filters, sort, pages with a total",
            ),
            contacts::list,
        )
        .post(
            "/v1/contacts/merge",
            doc(
                "contacts",
                "Merge contacts into a surviving one (contacts.merged)",
            ),
            contacts::merge,
        )
        .get(
            "/v1/contacts/{id}",
            doc(
                "contacts",
                "One contact with its conversation history and requests (a merged-away id finds the survivor)",
            ),
            contacts::detail,
        )
        .patch(
            "/v1/contacts/{id}",
            doc("contacts", "Edit a contact (contact.updated)"),
            contacts::update,
        )
        .delete(
            "/v1/contacts/{id}",
            doc(
                "contacts",
                "Erase a contact's personal data from every read model (contact.erased)",
            ),
            contacts::erase,
        )
        .get(
            "/v1/contact-requests",
            doc(
                "contact requests",
                "Contact requests, newest first, a page at a time",
            ),
            requests::list,
        )
        .get(
            "/v1/contact-requests/{id}",
            doc(
                "contact requests",
                "One contact request with every status change asked of it",
            ),
            requests::detail,
        )
        .patch(
            "/v1/contact-requests/{id}",
            doc(
                "contact requests",
                "Move a contact request to another status (contact_request.status_changed)",
            ),
            requests::change_status,
        )
        .get(
            "/v1/subjects/export",
            doc(
                "contacts",
                "Everything held about one person (data-subject access request), by email, phone or customer_id",
            ),
            subjects::export,
        )
        .post(
            "/v1/subjects/erase",
            doc(
                "contacts",
                "Erasure request by email, phone or customer_id: erase every contact and conversation of the person",
            ),
            subjects::erase,
        )
        .get(
            "/v1/stats",
            doc(
                "statistics",
                "Statistics of a date range, the previous period, and a daily or hourly series",
            ),
            stats::stats,
        )
        .get(
            "/v1/stats/funnel",
            doc(
                "statistics",
                "Conversations reaching each stage of the funnel, per page and per hour or day",
            ),
            stats::funnel,
        )
        .get(
            "/v1/stats/breakdown",
            doc(
                "statistics",
                "Engaged conversations started in a range by channel, device, country and language",
            ),
            stats::breakdown,
        )
        .get(
            "/v1/stats/contacts",
            doc(
                "statistics",
                "Contact insights of a range and the one before: contacts new, active, returning and awaiting follow-up, by channel, and their conversations' conversion and response times",
            ),
            stats::contacts::contacts,
        )
        .get(
            "/v1/bot-quality",
            doc(
                "statistics",
                "The visitor questions the bot could not handle (answered unsure, handed off, left unanswered) in the conversations started in a range, near-identical ones grouped, busiest first",
            ),
            stats::quality::bot_quality,
        )
        .get(
            "/v1/exports/conversations",
            doc(
                "exports",
                "The conversations the list's filters keep, streamed",
            ),
            exports::conversations,
        )
        .get(
            "/v1/exports/messages",
            doc(
                "exports",
                "The messages of the conversations the list's filters keep, streamed",
            ),
            exports::messages,
        )
        .get(
            "/v1/exports/contacts",
            doc("exports", "The contacts the list's filters keep, streamed"),
            exports::contacts,
        )
        .get(
            "/v1/exports/requests",
            doc(
                "exports",
                "The contact requests of the websites in scope, of one status if named, streamed",
            ),
            exports::requests,
        )
        .get(
            "/v1/exports/events",
            doc("exports", "Raw events of a range of days, streamed"),
            exports::events,
        )
        .post(
            "/reports/weekly",
            Doc {
                also: &[
                    ("501", "no SMTP server is configured (`EMAIL_HOST`)"),
                    ("409", "no website asked for has report recipients"),
                    (
                        "429",
                        "the website was sent REPORT_SENDS_PER_DAY reports in the last 24 hours",
                    ),
                ],
                ..doc(
                    "reports",
                    "Send the last whole week's reports now (or the week of `week`), at most once per website and week",
                )
            },
            reports::weekly,
        );
    legacy::routes(admin)
}

/// The pages and probes beside the API, and the live stream.
fn open() -> Api<AppState> {
    Api::default()
        .get(
            "/admin",
            doc("dashboard", "The admin dashboard"),
            dashboard::page,
        )
        .get(
            "/admin/assets/app.js",
            doc("dashboard", "The dashboard's script"),
            dashboard::script,
        )
        .get(
            "/admin/assets/app.css",
            doc("dashboard", "The dashboard's style"),
            dashboard::style,
        )
        // A stream outlives any one position of the projector: no `X-As-Of`.
        .get(
            "/v1/stream",
            doc(
                "stream",
                "Server-sent events of what the projector applies for the token's websites",
            ),
            stream::stream,
        )
        .probes("Postgres answers", health::readiness)
}

/// The routes with their documents: `/openapi.json` and `/docs` describe every route here,
/// themselves included.
pub fn router(state: AppState) -> Router {
    let published = Published::default();
    let page = published.clone();
    api()
        .map_router(|r| {
            r.layer(middleware::from_fn_with_state(
                state.clone(),
                freshness_header,
            ))
        })
        .merge(open())
        .get(
            "/docs",
            doc("documentation", "The API document as a page"),
            move || {
                let document = page.get();
                async move { openapi::docs(&document) }
            },
        )
        .publish(&published, openapi::document)
        .layer(middleware::from_fn_with_state(
            state.metrics.http.clone(),
            runtime::metrics::measure,
        ))
        .layer(middleware::from_fn(runtime::access::log))
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
