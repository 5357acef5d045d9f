//! `POST /v1/events`: one event, a JSON array, or `{"batch": [...]}`.
//!
//! Every event in a request is answered: accepted (acknowledged by the broker) or rejected
//! with the reason. An invalid event never costs its valid neighbours their place.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::Utc;
use runtime::kafka::{Record, SinkError};
use schemas::IncomingEvent;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::enrich::{RequestContext, enrich};
use crate::error::ApiError;

/// The peer address of the connection, when the server was started with connect info.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct EventsResponse {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
    /// Ids of the accepted events, in request order; re-send these ids when retrying.
    pub event_ids: Vec<Uuid>,
}

pub async fn post_events(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = headers
        .get("x-write-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let website_id = state
        .keys
        .website_for(key)
        .ok_or(ApiError::UnknownWriteKey)?
        .to_owned();
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "request body exceeds {} bytes",
            state.limits.max_body_bytes
        )),
        _ => ApiError::MalformedRequest(rejection.body_text()),
    })?;
    let items = split_events(&body, state.limits.max_batch_events)?;

    let request = RequestContext {
        website_id,
        received_at: Utc::now(),
        ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        from_browser: headers.contains_key(header::ORIGIN),
    };

    let mut rejected = Vec::new();
    let mut valid = Vec::new(); // (index in request, event id, record)
    for (index, item) in items.into_iter().enumerate() {
        let claimed_id = item
            .get("event_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        match IncomingEvent::parse(item) {
            Ok(incoming) => {
                let event = enrich(incoming, &request);
                match event.encode() {
                    Ok(value) => valid.push((
                        index,
                        event.event_id,
                        Record::new(event.conversation_id, value),
                    )),
                    Err(e) => rejected.push(Rejected {
                        index,
                        event_id: Some(event.event_id),
                        error: e.to_string(),
                    }),
                }
            }
            Err(error) => rejected.push(Rejected {
                index,
                event_id: claimed_id,
                error: error.to_string(),
            }),
        }
    }

    let records = valid.iter().map(|(_, _, r)| r.clone()).collect();
    let results = state.sink.send(records).await;
    let mut event_ids = Vec::new();
    let mut unavailable = Vec::new();
    for ((index, event_id, _), result) in valid.into_iter().zip(results) {
        match result {
            Ok(()) => event_ids.push(event_id),
            Err(SinkError::Rejected(reason)) => rejected.push(Rejected {
                index,
                event_id: Some(event_id),
                error: reason,
            }),
            Err(SinkError::Unavailable(reason)) => {
                tracing::warn!(%reason, %event_id, "event not acknowledged");
                unavailable.push(json!({"index": index, "event_id": event_id}));
            }
        }
    }
    rejected.sort_by_key(|r| r.index);

    if !unavailable.is_empty() {
        return Err(ApiError::Unavailable {
            retry_after_s: state.limits.retry_after_s,
            detail: json!({
                "accepted": event_ids.len(),
                "event_ids": event_ids,
                "not_stored": unavailable,
                "rejected": rejected,
            }),
        });
    }
    let status = if event_ids.is_empty() && !rejected.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let response = EventsResponse {
        accepted: event_ids.len(),
        rejected,
        event_ids,
    };
    let mut body = serde_json::to_value(&response).unwrap_or_default();
    if status == StatusCode::BAD_REQUEST
        && let (Some(obj), Some(first)) = (body.as_object_mut(), response.rejected.first())
    {
        obj.insert("error".into(), json!("invalid_event"));
        obj.insert("message".into(), json!(first.error));
    }
    Ok((status, Json(body)))
}

/// Splits a body into its events: an object is one event, an array or `{"batch": [...]}`
/// is many.
fn split_events(body: &[u8], max_batch_events: usize) -> Result<Vec<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedRequest("request body is empty".into()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::MalformedRequest(format!("request body is not valid JSON: {e}")))?;
    let items = match value {
        Value::Object(mut obj) if obj.contains_key("batch") => match obj.remove("batch") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(ApiError::MalformedRequest(
                    "batch: expected an array of events".into(),
                ));
            }
        },
        Value::Array(items) => items,
        event @ Value::Object(_) => vec![event],
        _ => {
            return Err(ApiError::MalformedRequest(
                "expected an event object, an array of events or {\"batch\": [...]}".into(),
            ));
        }
    };
    if items.is_empty() {
        return Err(ApiError::MalformedRequest("batch is empty".into()));
    }
    if items.len() > max_batch_events {
        return Err(ApiError::PayloadTooLarge(format!(
            "batch has {} events; the limit is {max_batch_events}",
            items.len()
        )));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_object_is_one_event() {
        assert_eq!(split_events(br#"{"type":"x"}"#, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_batch_object_and_an_array_are_many_events() {
        assert_eq!(split_events(br#"{"batch":[{},{}]}"#, 10).unwrap().len(), 2);
        assert_eq!(split_events(br#"[{},{},{}]"#, 10).unwrap().len(), 3);
    }

    #[test]
    fn an_empty_batch_is_malformed() {
        assert!(matches!(
            split_events(br#"{"batch":[]}"#, 10),
            Err(ApiError::MalformedRequest(_))
        ));
    }

    #[test]
    fn a_batch_over_the_limit_is_too_large() {
        assert!(matches!(
            split_events(br#"[{},{},{}]"#, 2),
            Err(ApiError::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn a_bare_string_is_malformed() {
        assert!(matches!(
            split_events(br#""hi""#, 2),
            Err(ApiError::MalformedRequest(_))
        ));
    }
}
