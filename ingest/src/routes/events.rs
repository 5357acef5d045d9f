//! `POST /v1/events`: one event, a JSON array, `{"batch": [...]}` or NDJSON, optionally
//! gzipped (see [`crate::decode`]).
//!
//! Every event in a request is answered: accepted (acknowledged by the broker) or rejected
//! with the reason. An invalid event never costs its valid neighbours their place.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use runtime::documented::{Answer, Described, Input, json_content, response};
use runtime::kafka::{Record, SinkError};
use schemars::{JsonSchema, SchemaGenerator, json_schema};
use schemas::{Event, IncomingEvent};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::decode::{DecodedBody, decode, parse_time};
use crate::enrich::{RequestContext, enrich};
use crate::error::ApiError;
use crate::keys::write_key_of;
use crate::metrics::reason;
use crate::privacy;
use runtime::client_ip::client_ip;

/// The peer address of the connection, when the server was started with connect info.
pub fn peer_of(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// An event that was not stored, and why.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Rejected {
    /// Its place in the request, from 0.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    pub error: String,
}

pub async fn post_events(
    State(state): State<AppState>,
    Admitted { request, body, .. }: Admitted<Events>,
) -> Result<Answered, ApiError> {
    Ok(ingest(&state, &request, body).await?.respond())
}

/// A request whose write key and origin passed, with its body decoded into events: what every
/// event-taking handler starts from. `B` says what the body is, for the API document.
pub struct Admitted<B> {
    pub request: RequestContext,
    pub body: DecodedBody,
    pub taken: PhantomData<fn() -> B>,
}

/// What a route's body is, as an OpenAPI content object.
pub trait Taken {
    fn content(g: &mut SchemaGenerator) -> Value;
}

/// Events in any of the forms `POST /v1/events` reads.
pub struct Events;

impl Taken for Events {
    fn content(g: &mut SchemaGenerator) -> Value {
        super::openapi::events_content(g)
    }
}

/// One JSON object read as `T` (the legacy routes).
pub struct Legacy<T>(PhantomData<T>);

impl<T: JsonSchema> Taken for Legacy<T> {
    fn content(g: &mut SchemaGenerator) -> Value {
        let mut schema = g.root_schema_for::<T>().to_value();
        if let Some(s) = schema.as_object_mut() {
            s.remove("$schema");
        }
        json!({"application/json": {"schema": schema}})
    }
}

impl<B: Taken> Input for Admitted<B> {
    fn describe(op: &mut Described, g: &mut SchemaGenerator) {
        op.authenticated = true;
        op.body_content = Some(B::content(g));
    }
}

impl<B> FromRequest<AppState> for Admitted<B> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let peer = peer_of(&parts);
        let key = write_key_of(&parts.headers, parts.uri.query()).unwrap_or_default();
        let request = admit(state, peer, &key, &parts.headers).await?;
        let headers = parts.headers.clone();
        let bytes =
            Bytes::from_request(axum::extract::Request::from_parts(parts, body), state).await;
        Ok(Self {
            request,
            body: read_body(state, &headers, bytes)?,
            taken: PhantomData,
        })
    }
}

/// Checks the write key and the origin, and gathers what the server knows of the request.
pub(crate) async fn admit(
    state: &AppState,
    peer: Option<IpAddr>,
    key: &str,
    headers: &HeaderMap,
) -> Result<RequestContext, ApiError> {
    let website = match (state.keys.website_for(key), &state.key_lookup) {
        (Some(website), _) => website,
        (None, Some(lookup)) => lookup
            .resolve(key, state.limits.retry_after_s)
            .await?
            .ok_or(ApiError::UnknownWriteKey)?,
        (None, None) => return Err(ApiError::UnknownWriteKey),
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !website.allows_origin(origin) {
        return Err(ApiError::OriginNotAllowed(
            origin.unwrap_or_default().to_owned(),
        ));
    }
    let received_at = Utc::now();
    let ip = client_ip(peer, headers, &state.trusted_proxies);
    let from_browser = headers.contains_key(header::ORIGIN);
    let country = ip
        .filter(|_| from_browser && state.privacy.records_country(&website.id))
        .and_then(|ip| state.countries.lookup(ip));
    Ok(RequestContext {
        website_id: website.id.clone(),
        received_at,
        ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        from_browser,
        anonymize_ip: state.privacy.anonymizes_ip(&website.id),
        country,
        opted_out: state.honor_opt_out && privacy::opted_out(headers),
        visitor_salt: state.salts.for_day(received_at.date_naive()),
        max_event_age: state.limits.max_event_age,
    })
}

/// The request body, decoded into its events (see [`crate::decode`]).
pub(crate) fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<DecodedBody, ApiError> {
    let body = body.map_err(|rejection| unreadable(state, &rejection))?;
    decode(headers, &body, &state.limits)
}

/// Why a body could not be read: over `INGEST_MAX_BODY_BYTES`, or broken off.
pub(crate) fn unreadable(state: &AppState, rejection: &BytesRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "request body exceeds {} bytes",
            state.limits.max_body_bytes
        )),
        _ => ApiError::MalformedRequest(rejection.body_text()),
    }
}

/// Validates, enriches and produces the events of one request. `Err` only when the broker left
/// some valid event unacknowledged (503); invalid events are in the outcome.
pub(crate) async fn ingest(
    state: &AppState,
    request: &RequestContext,
    decoded: DecodedBody,
) -> Result<Outcome, ApiError> {
    rate_limit(state, request, decoded.items.len())?;
    let (valid, rejected) = validate(decoded, request, state.limits.max_event_bytes);
    produce(state, valid, rejected).await
}

fn rate_limit(state: &AppState, request: &RequestContext, events: usize) -> Result<(), ApiError> {
    state
        .rate_limit
        .check(&request.website_id, events, Instant::now())
        .map_err(|wait| {
            state.metrics.rejected(reason::RATE_LIMITED, events as u64);
            ApiError::RateLimited {
                retry_after_s: u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX),
            }
        })
}

/// Like [`ingest`], but stores nothing unless every event is valid: for calls that are one
/// action made of several events. Returns the stored ids.
pub(crate) async fn ingest_all_or_nothing(
    state: &AppState,
    request: &RequestContext,
    decoded: DecodedBody,
) -> Result<Vec<Uuid>, ApiError> {
    rate_limit(state, request, decoded.items.len())?;
    let (valid, rejected) = validate(decoded, request, state.limits.max_event_bytes);
    if let Some(first) = rejected.first() {
        return Err(if first.error.starts_with(TOO_LARGE) {
            ApiError::PayloadTooLarge(first.error.clone())
        } else {
            ApiError::InvalidEvent(first.error.clone())
        });
    }
    Ok(produce(state, valid, rejected).await?.event_ids)
}

/// What happened to each event of a request.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Acknowledged by the broker, in request order.
    pub event_ids: Vec<Uuid>,
    pub rejected: Vec<Rejected>,
}

impl Outcome {
    /// 200 when anything was stored (or nothing was wrong); 413 when every event was over the
    /// size limit; otherwise 400.
    pub fn status(&self) -> StatusCode {
        if !self.event_ids.is_empty() || self.rejected.is_empty() {
            StatusCode::OK
        } else if self.rejected.iter().all(|r| r.error.starts_with(TOO_LARGE)) {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    /// The `/v1/events` answer: counts, rejections and the stored ids.
    pub fn respond(self) -> Answered {
        let status = self.status();
        let (error, message) = match (status, self.rejected.first()) {
            (StatusCode::OK, _) | (_, None) => (None, None),
            (StatusCode::PAYLOAD_TOO_LARGE, Some(first)) => {
                (Some("payload_too_large"), Some(first.error.clone()))
            }
            (_, Some(first)) => (Some("invalid_event"), Some(first.error.clone())),
        };
        Answered {
            status,
            body: EventsAnswer {
                accepted: self.event_ids.len(),
                rejected: self.rejected,
                event_ids: self.event_ids,
                error,
                message,
            },
        }
    }
}

/// What `POST /v1/events` answers: every event stored or rejected with its reason.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventsAnswer {
    /// How many events the broker acknowledged.
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
    /// The stored events' ids, in request order.
    pub event_ids: Vec<Uuid>,
    /// When nothing was stored: `invalid_event` or `payload_too_large`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// When nothing was stored: the first event's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An [`EventsAnswer`] with its status: 200 when anything was stored, else 400 or 413.
pub struct Answered {
    status: StatusCode,
    body: EventsAnswer,
}

impl IntoResponse for Answered {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl Answer for Answered {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        let schema = g.subschema_for::<EventsAnswer>();
        // Refused whole: a malformed body is a bare refusal, every event invalid is this answer
        // with `error` and `message` as well.
        let refusal = g.subschema_for::<super::openapi::Refusal>();
        let refused = json_content(json_schema!({ "anyOf": [schema, refusal] }));
        let mut out = response(
            "200",
            "`event_ids` of the stored events in request order, and `rejected` with each invalid event's index and reason",
            json_content(schema),
        );
        out.extend(response(
            "400",
            "malformed body, or every event invalid: `error`, `message` and the per-event detail",
            refused.clone(),
        ));
        out.extend(response(
            "413",
            "the body is over its limit, or every event is: `error`, `message` and the per-event detail",
            refused,
        ));
        out
    }
}

/// How a rejection for the per-event size limit starts.
const TOO_LARGE: &str = "event too large";

/// An event ready to produce, with where it stood in the request.
struct Valid {
    index: usize,
    event: Event,
    /// The event encoded plainly (its size was checked on these bytes); sealing replaces
    /// them only for events with personal fields.
    encoded: Vec<u8>,
}

/// Parses, validates and enriches every item; each is either valid or rejected with a reason.
fn validate(
    decoded: DecodedBody,
    request: &RequestContext,
    max_event_bytes: usize,
) -> (Vec<Valid>, Vec<Rejected>) {
    let mut valid = Vec::new();
    let mut rejected = Vec::new();
    for (index, item) in decoded.items.into_iter().enumerate() {
        let item = match item {
            Ok(item) => item,
            Err(error) => {
                rejected.push(Rejected {
                    index,
                    event_id: None,
                    error,
                });
                continue;
            }
        };
        let claimed_id = item
            .get("event_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        // A per-event `sent_at` (as Segment's libraries send) wins over the batch's.
        let sent_at = match item.get("sent_at") {
            None | Some(Value::Null) => Ok(decoded.sent_at),
            Some(v) => parse_time("sent_at", v)
                .map(Some)
                .map_err(|e| e.to_string()),
        };
        let event = sent_at.and_then(|sent_at| {
            IncomingEvent::parse(item)
                .map(|e| enrich(e, sent_at, request))
                .map_err(|e| e.to_string())
        });
        let encoded = event.and_then(|e| {
            let value = e.encode().map_err(|e| e.to_string())?;
            if value.len() > max_event_bytes {
                return Err(format!(
                    "{TOO_LARGE}: {} bytes; the limit is {max_event_bytes}",
                    value.len()
                ));
            }
            Ok((e, value))
        });
        match encoded {
            Ok((event, encoded)) => valid.push(Valid {
                index,
                event,
                encoded,
            }),
            Err(error) => rejected.push(Rejected {
                index,
                event_id: claimed_id,
                error,
            }),
        }
    }
    (valid, rejected)
}

/// The records of the valid events, keyed by conversation, with their personal fields sealed
/// when there is a key store. Takes each event's encoded bytes.
async fn seal(state: &AppState, valid: &mut [Valid]) -> Result<Vec<Record>, sqlx::Error> {
    let keys: Vec<String> = valid
        .iter()
        .map(|v| v.event.conversation_id.clone())
        .collect();
    let encoded: Vec<(&Event, Vec<u8>)> = valid
        .iter_mut()
        .map(|v| (&v.event, std::mem::take(&mut v.encoded)))
        .collect();
    let values = match &state.subject_keys {
        Some(store) => store.seal_encoded(encoded).await?,
        None => encoded.into_iter().map(|(_, value)| value).collect(),
    };
    Ok(keys
        .into_iter()
        .zip(values)
        .map(|(key, value)| Record::new(key, value))
        .collect())
}

/// Produces the valid events. Every event ends up acknowledged, rejected, or (503) not stored.
async fn produce(
    state: &AppState,
    mut valid: Vec<Valid>,
    mut rejected: Vec<Rejected>,
) -> Result<Outcome, ApiError> {
    let metrics = &state.metrics;
    let too_large = rejected
        .iter()
        .filter(|r| r.error.starts_with(TOO_LARGE))
        .count() as u64;
    metrics.rejected(reason::TOO_LARGE, too_large);
    metrics.rejected(reason::INVALID, rejected.len() as u64 - too_large);
    let records = match seal(state, &mut valid).await {
        Ok(records) => records,
        Err(error) => {
            // Without its key an event cannot be written: none is stored, all may be retried.
            tracing::warn!(%error, "cannot seal personal data");
            metrics.rejected(reason::NOT_STORED, valid.len() as u64);
            let not_stored: Vec<Value> = valid
                .iter()
                .map(|v| json!({"index": v.index, "event_id": v.event.event_id}))
                .collect();
            return Err(ApiError::Unavailable {
                retry_after_s: state.limits.retry_after_s,
                detail: json!({
                    "accepted": 0,
                    "event_ids": [],
                    "not_stored": not_stored,
                    "rejected": rejected,
                }),
            });
        }
    };
    let started = Instant::now();
    let results = state.sink.send(records).await;
    metrics
        .produce_latency
        .observe(started.elapsed().as_secs_f64());
    let before = rejected.len();
    let mut event_ids = Vec::new();
    let mut not_stored = Vec::new();
    for (v, result) in valid.into_iter().zip(results) {
        match result {
            Ok(()) => event_ids.push(v.event.event_id),
            Err(SinkError::Rejected(reason)) => rejected.push(Rejected {
                index: v.index,
                event_id: Some(v.event.event_id),
                error: reason,
            }),
            Err(SinkError::Unavailable(reason)) => {
                tracing::warn!(%reason, event_id = %v.event.event_id, "event not acknowledged");
                not_stored.push(json!({"index": v.index, "event_id": v.event.event_id}));
            }
        }
    }
    rejected.sort_by_key(|r| r.index);
    metrics.events_accepted.inc_by(event_ids.len() as u64);
    metrics.rejected(reason::BROKER_REJECTED, (rejected.len() - before) as u64);
    metrics.rejected(reason::NOT_STORED, not_stored.len() as u64);
    if !not_stored.is_empty() {
        return Err(ApiError::Unavailable {
            retry_after_s: state.limits.retry_after_s,
            detail: json!({
                "accepted": event_ids.len(),
                "event_ids": event_ids,
                "not_stored": not_stored,
                "rejected": rejected,
            }),
        });
    }
    Ok(Outcome {
        event_ids,
        rejected,
    })
}
