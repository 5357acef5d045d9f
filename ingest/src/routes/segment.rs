//! The Segment HTTP Tracking API (`/v1/batch`, `/v1/track`, `/v1/identify`, `/v1/page`,
//! `/v1/screen`, `/v1/group`, `/v1/alias`, and the one-letter paths analytics.js posts to),
//! so a website's Segment or RudderStack library sends to Colloquy with a change of host and
//! write key. Each message is mapped by [`crate::segment`] and the events take the path of
//! `POST /v1/events`.
//!
//! Answers keep Segment's codes, which the libraries act on: 200 whenever the request was read
//! (with every message not stored named, and why), 400 for a body that is not JSON or over the
//! spec's size limits, 429 and 503 with `Retry-After` (they retry on both).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::IpAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, State};
use runtime::documented::{Described, Input};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::events::{Taken, admit, ingest, peer_of, unreadable};
use crate::AppState;
use crate::decode::{DecodedBody, decompress};
use crate::enrich::RequestContext;
use crate::error::ApiError;
use crate::keys::write_key_of;
use crate::segment::{self, Call, Mapped};

/// A Segment request whose write key (header, Basic user name, or `writeKey` in the body)
/// and origin passed, with its body read as one JSON object.
pub struct SegmentRequest<B> {
    request: RequestContext,
    /// The request came from a trusted proxy (`INGEST_TRUSTED_PROXIES`): a message's
    /// `context.ip` names its visitor.
    relayed: bool,
    body: Value,
    taken: PhantomData<fn() -> B>,
}

/// A `/v1/batch` body.
pub struct Batch;
/// One call's body.
pub struct Single;

/// What a route's body is (its document, as [`Taken`] says for every event route), and its
/// size limit.
trait BodyKind: Taken {
    fn limit(state: &AppState) -> usize;
}

impl Taken for Batch {
    fn content(g: &mut SchemaGenerator) -> Value {
        json!({"application/json": {"schema": g.subschema_for::<BatchBody>()}})
    }
}

impl BodyKind for Batch {
    fn limit(state: &AppState) -> usize {
        state.limits.segment_max_batch_bytes
    }
}

impl Taken for Single {
    fn content(g: &mut SchemaGenerator) -> Value {
        json!({"application/json": {"schema": g.subschema_for::<Message>()}})
    }
}

impl BodyKind for Single {
    fn limit(state: &AppState) -> usize {
        state.limits.segment_max_message_bytes
    }
}

impl<B: BodyKind> Input for SegmentRequest<B> {
    fn describe(op: &mut Described, g: &mut SchemaGenerator) {
        op.authenticated = true;
        op.body_content = Some(B::content(g));
    }
}

impl<B: BodyKind> FromRequest<AppState> for SegmentRequest<B> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let peer = peer_of(&parts);
        let headers = parts.headers.clone();
        let query = parts.uri.query().map(str::to_owned);
        let bytes = Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(|rejection| as_segment_answers(unreadable(state, &rejection)))?;
        let limit = B::limit(state);
        let text = decompress(&headers, &bytes, limit).map_err(as_segment_answers)?;
        if text.len() > limit {
            return Err(ApiError::TooLargeForSegment(format!(
                "the body is {} bytes; Segment's limit here is {limit}",
                text.len()
            )));
        }
        let body: Value = serde_json::from_slice(&text).map_err(|e| {
            ApiError::MalformedRequest(format!("request body is not valid JSON: {e}"))
        })?;
        if !body.is_object() {
            return Err(ApiError::MalformedRequest("expected a JSON object".into()));
        }
        let key = write_key_of(&headers, query.as_deref())
            .or_else(|| {
                body.get("writeKey")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let request = admit(state, peer, &key, &headers).await?;
        Ok(Self {
            request,
            relayed: peer.is_some_and(|p| state.trusted_proxies.contains(p)),
            body,
            taken: PhantomData,
        })
    }
}

/// The Segment API answers its size limits with 400, which its libraries do not retry.
fn as_segment_answers(error: ApiError) -> ApiError {
    match error {
        ApiError::PayloadTooLarge(message) => ApiError::TooLargeForSegment(message),
        other => other,
    }
}

/// A message not stored, and why.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Unstored {
    /// Its place in the batch, from 0 (0 for a single call).
    pub index: usize,
    #[serde(rename = "messageId", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub reason: String,
}

/// What every Segment route answers with 200: `success` (what the libraries read), then what
/// became of each message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SegmentAnswer {
    pub success: bool,
    /// Messages stored as events (acknowledged by the broker).
    pub accepted: usize,
    /// The stored events' ids, in message order.
    pub event_ids: Vec<Uuid>,
    /// Well-formed messages Colloquy has no event for.
    pub not_used: Vec<Unstored>,
    /// Messages that are malformed or whose event is invalid.
    pub rejected: Vec<Unstored>,
}

/// One message, as the spec describes it (documentation; the mapping reads it untyped).
#[derive(JsonSchema)]
#[allow(non_snake_case, dead_code)]
pub struct Message {
    /// `track`, `identify`, `page`, `screen`, `group` or `alias`; the route's when absent.
    r#type: Option<String>,
    /// A track call's name: a Colloquy client event type or its words (`Message Sent`).
    event: Option<String>,
    /// The same `messageId` on the same website is the same event.
    messageId: Option<String>,
    userId: Option<String>,
    anonymousId: Option<String>,
    /// The event's payload fields and `conversation_id`.
    properties: Option<Map<String, Value>>,
    traits: Option<Map<String, Value>>,
    /// `userAgent`, `locale`, `page.url` and `library` are kept.
    context: Option<Map<String, Value>>,
    timestamp: Option<String>,
    originalTimestamp: Option<String>,
    sentAt: Option<String>,
    /// The write key, when no header carries it (browser beacons).
    writeKey: Option<String>,
}

/// A `/v1/batch` body.
#[derive(JsonSchema)]
#[allow(non_snake_case, dead_code)]
pub struct BatchBody {
    batch: Vec<Message>,
    sentAt: Option<String>,
    writeKey: Option<String>,
}

pub async fn batch(
    State(state): State<AppState>,
    r: SegmentRequest<Batch>,
) -> Result<Json<SegmentAnswer>, ApiError> {
    let messages = match r.body.get("batch") {
        Some(Value::Array(messages)) => messages.clone(),
        _ => {
            return Err(ApiError::MalformedRequest(
                "batch: expected an array of messages".into(),
            ));
        }
    };
    answer(&state, &r, &r.body, messages, None).await
}

macro_rules! single_calls {
    ($($name:ident => $call:expr),* $(,)?) => {$(
        pub async fn $name(
            State(state): State<AppState>,
            r: SegmentRequest<Single>,
        ) -> Result<Json<SegmentAnswer>, ApiError> {
            let message = r.body.clone();
            answer(&state, &r, &Value::Null, vec![message], Some($call)).await
        }
    )*};
}

single_calls! {
    track => Call::Track,
    identify => Call::Identify,
    page => Call::Page,
    screen => Call::Screen,
    group => Call::Group,
    alias => Call::Alias,
}

/// Maps `messages`, stores the events, and says what became of each message.
async fn answer<B>(
    state: &AppState,
    r: &SegmentRequest<B>,
    batch: &Value,
    messages: Vec<Value>,
    call: Option<Call>,
) -> Result<Json<SegmentAnswer>, ApiError> {
    let limit = state.limits.segment_max_message_bytes;
    let website = &r.request.website_id;
    let ids: Vec<Option<String>> = messages
        .iter()
        .map(|m| segment::id_text(m, "messageId"))
        .collect();
    let unstored = |index: usize, reason: String| Unstored {
        index,
        message_id: ids[index].clone(),
        reason,
    };
    let mut not_used = Vec::new();
    let mut rejected = Vec::new();
    // The events by the visitor address they are stored with (`None`: the connection's), each
    // with its message's index.
    let mut groups: BTreeMap<Option<IpAddr>, Vec<(usize, Value)>> = BTreeMap::new();
    for (index, message) in messages.iter().enumerate() {
        let size = message.to_string().len();
        if size > limit {
            rejected.push(unstored(
                index,
                format!("the message is {size} bytes; Segment's limit is {limit} a message"),
            ));
            continue;
        }
        match segment::map(message, call, website) {
            Ok(Mapped::Event(event)) => {
                let relayed = r.relayed.then(|| segment::relayed_ip(message)).flatten();
                groups.entry(relayed).or_default().push((index, event));
            }
            Ok(Mapped::NotUsed(why)) => not_used.push(unstored(index, why)),
            Err(error) => rejected.push(unstored(index, error)),
        }
    }
    let mut stored = Vec::new();
    for (ip, events) in groups {
        let request = match ip {
            Some(ip) => relayed_request(state, &r.request, ip),
            None => r.request.clone(),
        };
        let at: Vec<usize> = events.iter().map(|(index, _)| *index).collect();
        let decoded = DecodedBody {
            items: events.into_iter().map(|(_, event)| Ok(event)).collect(),
            sent_at: segment::batch_sent_at(batch),
        };
        let outcome = ingest(state, &request, decoded)
            .await
            .map_err(|e| renumber(e, &at))?;
        let refused: Vec<usize> = outcome.rejected.iter().map(|x| x.index).collect();
        let kept = (0..at.len()).filter(|i| !refused.contains(i));
        stored.extend(kept.map(|i| at[i]).zip(outcome.event_ids));
        rejected.extend(
            outcome
                .rejected
                .into_iter()
                .map(|x| unstored(at[x.index], x.error)),
        );
    }
    stored.sort_by_key(|(index, _)| *index);
    rejected.sort_by_key(|x| x.index);
    Ok(Json(SegmentAnswer {
        success: true,
        accepted: stored.len(),
        event_ids: stored.into_iter().map(|(_, id)| id).collect(),
        not_used,
        rejected,
    }))
}

/// The request as it would be had the visitor at `ip` sent it: a trusted backend relays its
/// visitors' addresses in `context.ip`, and their country is theirs, not the backend's.
fn relayed_request(state: &AppState, request: &RequestContext, ip: IpAddr) -> RequestContext {
    RequestContext {
        ip: Some(ip),
        country: state
            .privacy
            .records_country(&request.website_id)
            .then(|| state.countries.lookup(ip))
            .flatten(),
        ..request.clone()
    }
}

/// A 503's detail names events by their place among the events; name the messages instead.
fn renumber(error: ApiError, at: &[usize]) -> ApiError {
    match error {
        ApiError::Unavailable {
            retry_after_s,
            mut detail,
        } => {
            for list in ["not_stored", "rejected"] {
                if let Some(Value::Array(items)) = detail.get_mut(list) {
                    for item in items {
                        if let Some(i) = item["index"].as_u64() {
                            item["index"] = json!(at.get(i as usize).copied().unwrap_or(0));
                        }
                    }
                }
            }
            ApiError::Unavailable {
                retry_after_s,
                detail,
            }
        }
        other => other,
    }
}
