//! `/v1/websites/{id}/webhooks` and `/v1/webhooks/{endpoint_id}…`: a website's webhook
//! endpoints (registered, changed and deleted as `webhook.endpoint_changed` events), their
//! secrets, test messages and delivery logs (docs/webhooks.md).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use schemas::Payload;
use schemas::payloads::{WEBHOOK_KINDS, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::answers::{Action, Body, Creation, Listed, Page, Read, Whole, acted, read};
use super::bad_request;
use super::params::Params;
use super::websites::visible;
use crate::AppState;
use crate::actions::{self, Outcome};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::webhooks::{self as store, AttemptRow, DeliveryRow, EndpointRow};
use crate::webhooks::signing;

impl Listed for EndpointRow {
    const KEY: &'static str = "webhooks";
}

/// What `POST /v1/websites/{id}/webhooks` registers.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where deliveries are posted: `https://`, and a public address (docs/webhooks.md).
    url: String,
    /// What to send: any of `contact.created`, `contact.updated`, `contact.erased`,
    /// `contact_request.created`, `contact_request.status_changed`,
    /// `conversation.handed_off`, `conversation.closed`, `conversation.rated`; all when left
    /// out.
    kinds: Option<Vec<String>>,
    /// Only what happens in conversations (and to contacts) of this channel.
    channel: Option<String>,
    description: Option<String>,
    /// Default true.
    enabled: Option<bool>,
}

/// What `PATCH /v1/webhooks/{endpoint_id}` changes; what is left out stays.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    url: Option<String>,
    kinds: Option<Vec<String>>,
    /// An empty string removes the filter.
    channel: Option<String>,
    description: Option<String>,
    /// Enabling an endpoint the dispatcher disabled for failing clears that too.
    enabled: Option<bool>,
}

/// An endpoint, with its signing secret: the only answer that shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Registered {
    pub endpoint_id: Uuid,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    /// Shown once; `POST /v1/webhooks/{endpoint_id}/secret` makes a new one.
    pub secret: String,
    /// Null while the projector has not applied the registration (202).
    pub webhook: Option<EndpointRow>,
}

/// One endpoint; null in an action's answer while the projector has not applied it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OneEndpoint {
    pub webhook: Option<EndpointRow>,
}

/// `url` if the operator allows deliveries to it (`guard::Policy::check_destination`).
async fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    state
        .webhooks
        .policy
        .check_destination(url)
        .await
        .map(|u| u.to_string())
        .map_err(|why| ApiError::BadRequest(format!("url refused: {why}")))
}

fn kinds(asked: Option<Vec<String>>) -> Vec<String> {
    asked.unwrap_or_else(|| WEBHOOK_KINDS.iter().map(|k| (*k).to_owned()).collect())
}

async fn submit(
    state: &AppState,
    admin: &Admin,
    endpoint: WebhookEndpoint,
) -> Result<Outcome, ApiError> {
    let subject = format!("webhook:{}", endpoint.endpoint_id);
    let website = endpoint.website_id.clone();
    let payload = Payload::WebhookEndpointChanged(endpoint);
    payload.validate().map_err(bad_request)?;
    actions::submit(
        state,
        &admin.actor,
        actions::event(&website, &subject, payload),
    )
    .await
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Page<EndpointRow, Whole>>, ApiError> {
    visible(&admin, &website_id)?;
    let rows = store::endpoints(&state.pool, Some(&[website_id])).await?;
    Ok(Json(Page::new(rows, Whole {}, as_of)))
}

/// Registers an endpoint: its secret is stored first (never in the topic), then the
/// registration is produced as an event.
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    Body(new): Body<NewEndpoint>,
) -> Result<Creation<Registered>, ApiError> {
    visible(&admin, &website_id)?;
    let endpoint_id = Uuid::new_v4();
    let mut endpoint = WebhookEndpoint {
        endpoint_id: endpoint_id.to_string(),
        website_id: website_id.clone(),
        url: new.url,
        kinds: kinds(new.kinds),
        channel: new.channel.filter(|c| !c.trim().is_empty()),
        description: new.description,
        enabled: new.enabled.unwrap_or(true),
        deleted: false,
    };
    // The fields first, then where the URL leads (which may take a DNS lookup).
    Payload::WebhookEndpointChanged(endpoint.clone())
        .validate()
        .map_err(bad_request)?;
    endpoint.url = checked_url(&state, &endpoint.url).await?;
    let secret = signing::new_secret();
    store::add_secret(&state.pool, endpoint_id, &secret, Utc::now()).await?;
    let outcome = submit(&state, &admin, endpoint).await?;
    let webhook = store::endpoint(&state.pool, Some(&[website_id]), endpoint_id).await?;
    Ok(acted(
        outcome,
        Registered {
            endpoint_id,
            secret,
            webhook,
        },
    ))
}

/// The endpoint `id` names among the token's websites.
async fn found(state: &AppState, admin: &Admin, id: &str) -> Result<EndpointRow, ApiError> {
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound("webhook"))?;
    store::endpoint(&state.pool, admin.scope.websites(), id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

pub async fn detail(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Read<OneEndpoint>>, ApiError> {
    let webhook = found(&state, &admin, &id).await?;
    read(
        OneEndpoint {
            webhook: Some(webhook),
        },
        as_of,
    )
}

fn as_event(row: &EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        endpoint_id: row.endpoint_id.to_string(),
        website_id: row.website_id.clone(),
        url: row.url.clone(),
        kinds: row.kinds.clone(),
        channel: row.channel.clone(),
        description: row.description.clone(),
        enabled: row.enabled,
        deleted: false,
    }
}

pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(change): Body<EndpointChange>,
) -> Result<Action<OneEndpoint>, ApiError> {
    let row = found(&state, &admin, &id).await?;
    let mut endpoint = as_event(&row);
    if let Some(url) = change.url {
        endpoint.url = checked_url(&state, &url).await?;
    }
    if let Some(k) = change.kinds {
        endpoint.kinds = k;
    }
    if let Some(c) = change.channel {
        endpoint.channel = Some(c).filter(|c| !c.trim().is_empty());
    }
    if let Some(d) = change.description {
        endpoint.description = Some(d);
    }
    if let Some(enabled) = change.enabled {
        endpoint.enabled = enabled;
        if enabled {
            store::clear_health(&state.pool, row.endpoint_id).await?;
        }
    }
    let outcome = submit(&state, &admin, endpoint).await?;
    let webhook = store::endpoint(&state.pool, admin.scope.websites(), row.endpoint_id).await?;
    Ok(acted(outcome, OneEndpoint { webhook }))
}

/// Deletes the endpoint: nothing more is sent to it, and what waited is dropped.
pub async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Action<OneEndpoint>, ApiError> {
    let row = found(&state, &admin, &id).await?;
    let mut endpoint = as_event(&row);
    endpoint.deleted = true;
    endpoint.enabled = false;
    let outcome = submit(&state, &admin, endpoint).await?;
    let webhook = store::endpoint(&state.pool, admin.scope.websites(), row.endpoint_id).await?;
    Ok(acted(outcome, OneEndpoint { webhook }))
}

/// A new signing secret, and until when the old ones still sign.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Rotated {
    pub endpoint_id: Uuid,
    /// Shown once.
    pub secret: String,
    /// Until then deliveries carry a signature by the old secret too.
    pub previous_valid_until: DateTime<Utc>,
}

pub async fn rotate_secret(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Rotated>, ApiError> {
    let row = found(&state, &admin, &id).await?;
    let secret = signing::new_secret();
    let overlap = chrono::Duration::from_std(state.webhooks.secret_overlap)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let until = Utc::now() + overlap;
    store::add_secret(&state.pool, row.endpoint_id, &secret, until).await?;
    Ok(Json(Rotated {
        endpoint_id: row.endpoint_id,
        secret,
        previous_valid_until: until,
    }))
}

/// A test message, queued.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TestQueued {
    /// Follow it in `GET /v1/webhooks/{endpoint_id}/deliveries`.
    pub delivery_id: Uuid,
}

pub async fn send_test(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TestQueued>, ApiError> {
    let row = found(&state, &admin, &id).await?;
    let delivery_id = Uuid::now_v7();
    store::enqueue_test(&state.pool, &row, delivery_id).await?;
    Ok(Json(TestQueued { delivery_id }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// `pending`, `delivered`, `failed` or `dropped`.
    state: Option<String>,
    /// 1-500, default 100.
    limit: Option<i64>,
}

/// A delivery with its attempts.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Delivery {
    #[serde(flatten)]
    pub delivery: DeliveryRow,
    pub attempt_log: Vec<AttemptRow>,
}

impl Listed for Delivery {
    const KEY: &'static str = "deliveries";
}

/// The delivery log, newest first.
pub async fn deliveries(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<DeliveryParams>,
    as_of: AsOf,
) -> Result<Json<Page<Delivery, Whole>>, ApiError> {
    let row = found(&state, &admin, &id).await?;
    if let Some(s) = params.state.as_deref()
        && !["pending", "delivered", "failed", "dropped"].contains(&s)
    {
        return Err(ApiError::BadRequest(
            "state must be pending, delivered, failed or dropped".into(),
        ));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1-500".into()));
    }
    let rows =
        store::deliveries(&state.pool, row.endpoint_id, params.state.as_deref(), limit).await?;
    let ids: Vec<Uuid> = rows.iter().map(|d| d.delivery_id).collect();
    let mut attempts = store::attempts(&state.pool, &ids).await?;
    let out = rows
        .into_iter()
        .map(|delivery| Delivery {
            attempt_log: attempts.remove(&delivery.delivery_id).unwrap_or_default(),
            delivery,
        })
        .collect();
    Ok(Json(Page::new(out, Whole {}, as_of)))
}

/// Sends a delivered or failed delivery again, with the same `webhook-id`.
pub async fn redeliver(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Json<DeliveryRow>, ApiError> {
    let row = found(&state, &admin, &id).await?;
    let delivery_id: Uuid = delivery_id
        .parse()
        .map_err(|_| ApiError::NotFound("delivery"))?;
    let delivery = store::delivery(&state.pool, delivery_id)
        .await?
        .filter(|d| d.endpoint_id == row.endpoint_id)
        .ok_or(ApiError::NotFound("delivery"))?;
    if !store::redeliver(&state.pool, delivery_id).await? {
        return Err(ApiError::Conflict(format!(
            "the delivery is {}: only a delivered or failed one can be sent again",
            delivery.state
        )));
    }
    store::delivery(&state.pool, delivery_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("delivery"))
}
