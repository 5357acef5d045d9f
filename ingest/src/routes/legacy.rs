//! Endpoints that existing widget and bot clients already call, with their exact paths and
//! answers. Each translates its body into canonical events and takes the same path as
//! `POST /v1/events`: write key, validation, enrichment (IP, user agent), durable produce.
//!
//! | route | becomes | answers |
//! |---|---|---|
//! | `POST /api/track-interaction` | `widget.loaded` | `{"status":"interaction_tracked","conversation_id":…}` |
//! | `POST /client/update` | `message.sent` (user) or `cta.clicked` | `{"status":"success"}` |
//! | `POST /api/contact/submit` | `contact.submitted` | `{"id":…,"status":"success","message":…}` |
//! | `POST /api/chat` | `message.sent` (user), plus one from the bot with `response` | `{"status":"success"}` |

use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::events::{Admitted, Legacy, ingest_all_or_nothing};
use crate::AppState;
use crate::decode::DecodedBody;
use crate::enrich::RequestContext;
use crate::error::ApiError;

/// Reads a legacy body as `T`; errors name the legacy field.
fn legacy_body<T: DeserializeOwned>(decoded: DecodedBody) -> Result<T, ApiError> {
    let mut items = decoded.items.into_iter();
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(ApiError::MalformedRequest(
            "expected one JSON object".into(),
        ));
    };
    let value = item.map_err(ApiError::MalformedRequest)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let message = inner.split(" at line ").next().unwrap_or_default();
        match message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) => ApiError::MalformedRequest(format!("{field}: is required")),
            None => ApiError::MalformedRequest(format!("{}: {message}", e.path())),
        }
    })
}

/// Produces canonical `events`, all or none; returns their ids.
async fn produce(
    state: &AppState,
    request: &RequestContext,
    events: Vec<Value>,
) -> Result<Vec<Uuid>, ApiError> {
    let decoded = DecodedBody {
        items: events.into_iter().map(Ok).collect(),
        sent_at: None,
    };
    ingest_all_or_nothing(state, request, decoded).await
}

/// Removes `None`s so optional legacy fields stay absent in the canonical event.
fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn opt(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|s| json!(s))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TrackInteraction {
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    conversation_id: String,
    customer_id: Option<String>,
    page_url: Option<String>,
    language: Option<String>,
    /// The platform, e.g. `web` or `mobile_app`: becomes the channel.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,64}$"))]
    source: Option<String>,
    #[schemars(extend("enum" = ["mobile", "tablet", "desktop", "bot"]))]
    device: Option<String>,
    environment: Option<String>,
    metadata: Option<Map<String, Value>>,
}

pub async fn track_interaction(
    State(state): State<AppState>,
    Admitted { request, body, .. }: Admitted<Legacy<TrackInteraction>>,
) -> Result<Json<Tracked>, ApiError> {
    let t: TrackInteraction = legacy_body(body)?;
    let event = json!({
        "type": "widget.loaded",
        "conversation_id": t.conversation_id,
        "context": object(vec![
            ("channel", opt(&t.source)),
            ("device", opt(&t.device)),
            ("language", opt(&t.language)),
            ("page_url", opt(&t.page_url)),
            ("environment", opt(&t.environment)),
            ("metadata", t.metadata.map(Value::Object)),
        ]),
        "payload": object(vec![("customer_id", opt(&t.customer_id)), ("page_url", opt(&t.page_url))]),
    });
    produce(&state, &request, vec![event]).await?;
    Ok(Json(Tracked {
        status: "interaction_tracked",
        conversation_id: t.conversation_id,
    }))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClientUpdate {
    #[schemars(length(max = 256))]
    user_id: String,
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    session_id: String,
    /// The message's text, or the clicked CTA's label.
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    message: String,
    #[schemars(extend("enum" = ["message", "cta_click"]))]
    event_type: String,
}

pub async fn client_update(
    State(state): State<AppState>,
    Admitted { request, body, .. }: Admitted<Legacy<ClientUpdate>>,
) -> Result<Json<Success>, ApiError> {
    let u: ClientUpdate = legacy_body(body)?;
    let event = match u.event_type.as_str() {
        "message" => json!({
            "type": "message.sent", "conversation_id": u.session_id,
            "payload": {"sender": "user", "text": u.message, "customer_id": u.user_id},
        }),
        "cta_click" => json!({
            "type": "cta.clicked", "conversation_id": u.session_id,
            "payload": {"label": u.message, "customer_id": u.user_id},
        }),
        _ => {
            return Err(ApiError::MalformedRequest(
                "event_type: expected one of message, cta_click".into(),
            ));
        }
    };
    produce(&state, &request, vec![event]).await?;
    Ok(Json(SUCCESS))
}

#[derive(Debug, Deserialize, JsonSchema)]
/// An e-mail address or a phone number (or both) is required.
#[schemars(extend("anyOf" = [{"required": ["email"]}, {"required": ["phone"]}]))]
pub struct ContactSubmit {
    name: Option<String>,
    #[schemars(
        length(max = 320),
        regex(pattern = r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.]$")
    )]
    email: Option<String>,
    #[schemars(
        length(max = 32),
        regex(pattern = r"^[ +\-().]*([0-9][ +\-().]*){5,}$")
    )]
    phone: Option<String>,
    message: Option<String>,
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    session_id: String,
    #[serde(default)]
    chat_context: Vec<Value>,
}

pub async fn contact_submit(
    State(state): State<AppState>,
    Admitted { request, body, .. }: Admitted<Legacy<ContactSubmit>>,
) -> Result<Json<Submitted>, ApiError> {
    let c: ContactSubmit = legacy_body(body)?;
    let event = json!({
        "type": "contact.submitted",
        "conversation_id": c.session_id,
        "payload": object(vec![
            ("name", opt(&c.name)),
            ("email", opt(&c.email)),
            ("phone", opt(&c.phone)),
            ("message", opt(&c.message)),
            ("chat_context", Some(Value::Array(c.chat_context))),
        ]),
    });
    let ids = produce(&state, &request, vec![event]).await?;
    // The request id is the event id (see `enrich`), which is what admins later see.
    Ok(Json(Submitted {
        id: ids.first().copied(),
        status: "success",
        message: "Thank you! We'll get back to you soon.",
    }))
}

/// `conversation_id` or, as older clients send it, `session_id` is required.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("anyOf" = [{"required": ["conversation_id"]}, {"required": ["session_id"]}]))]
pub struct Chat {
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    conversation_id: Option<String>,
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    session_id: Option<String>,
    #[schemars(length(min = 1), regex(pattern = r"\S"))]
    message: String,
    customer_id: Option<String>,
    /// The bot's answer, when the backend logs both sides in one call.
    response: Option<String>,
    response_time_ms: Option<u64>,
}

pub async fn chat(
    State(state): State<AppState>,
    Admitted { request, body, .. }: Admitted<Legacy<Chat>>,
) -> Result<Json<Success>, ApiError> {
    let c: Chat = legacy_body(body)?;
    let conversation = c.conversation_id.or(c.session_id).ok_or_else(|| {
        ApiError::MalformedRequest("conversation_id: is required (or session_id)".into())
    })?;
    let mut events = vec![json!({
        "type": "message.sent", "conversation_id": conversation,
        "payload": object(vec![
            ("sender", Some(json!("user"))),
            ("text", Some(json!(c.message))),
            ("customer_id", opt(&c.customer_id)),
        ]),
    })];
    if let Some(response) = c.response {
        events.push(json!({
            "type": "message.sent", "conversation_id": conversation,
            "payload": object(vec![
                ("sender", Some(json!("bot"))),
                ("text", Some(json!(response))),
                ("response_time_ms", c.response_time_ms.map(|ms| json!(ms))),
            ]),
        }));
    }
    produce(&state, &request, events).await?;
    Ok(Json(SUCCESS))
}

/// `{"status": "interaction_tracked", "conversation_id": …}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Tracked {
    pub status: &'static str,
    pub conversation_id: String,
}

/// `{"status": "success"}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Success {
    pub status: &'static str,
}

const SUCCESS: Success = Success { status: "success" };

/// `{"id": …, "status": "success", "message": …}`: `id` is the contact request's.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Submitted {
    pub id: Option<Uuid>,
    pub status: &'static str,
    pub message: &'static str,
}
