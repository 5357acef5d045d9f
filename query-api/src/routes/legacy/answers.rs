//! What the legacy routes answer: the shapes existing dashboards read, each the native row
//! with the old field names beside its own.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use runtime::documented::{Answer, json_content, response};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::super::stats;
use crate::store::conversations::{ConversationRow, MessageRow};
use crate::store::requests::RequestRow;
use schemas::payloads::Priority;

/// `{"success": true, …}`: what the old dashboards check first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Succeeded<T> {
    /// Always true: a failure is an error answer.
    pub success: bool,
    #[serde(flatten)]
    pub body: T,
}

pub(super) fn succeeded<T>(body: T) -> Succeeded<T> {
    Succeeded {
        success: true,
        body,
    }
}

/// A conversation with the field names the old dashboards read, beside the native ones.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyConversation {
    #[serde(flatten)]
    pub conversation: LegacyRow,
    /// `conversation_id`.
    pub id: String,
    /// `customer_id`.
    pub user_id: Option<String>,
    /// `channel`.
    pub platform: String,
    /// `first_seen_at`.
    pub created_at: DateTime<Utc>,
    /// `last_activity_at`.
    pub updated_at: DateTime<Utc>,
}

impl From<ConversationRow> for LegacyConversation {
    fn from(c: ConversationRow) -> Self {
        Self {
            id: c.conversation_id.clone(),
            user_id: c.customer_id.clone(),
            platform: c.channel.clone(),
            created_at: c.first_seen_at,
            updated_at: c.last_activity_at,
            conversation: LegacyRow(c),
        }
    }
}

/// The native row with its `priority` as the old integer: 1 low, 2 normal, 3 high, 4 urgent
/// ([`Priority::rank`]).
#[derive(Debug)]
pub struct LegacyRow(pub ConversationRow);

impl Serialize for LegacyRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        if let Some(row) = value.as_object_mut() {
            let rank = Priority::parse(&self.0.priority).map(Priority::rank);
            row.insert("priority".into(), rank.into());
        }
        value.serialize(serializer)
    }
}

impl JsonSchema for LegacyRow {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LegacyConversationRow".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        let mut schema = ConversationRow::json_schema(generator);
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert(
                "priority".into(),
                serde_json::json!({
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 4,
                    "description": "1 low, 2 normal, 3 high, 4 urgent",
                }),
            );
        }
        schema
    }
}

/// A message with the field names the old dashboards read, beside the native ones.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyMessage {
    #[serde(flatten)]
    pub message: MessageRow,
    pub conversation_id: String,
    /// `sender`.
    pub sender_type: String,
    /// `text`.
    pub content: Option<String>,
    /// `sent_at`.
    pub timestamp: DateTime<Utc>,
}

impl LegacyMessage {
    pub(super) fn new(conversation_id: &str, m: MessageRow) -> Self {
        Self {
            conversation_id: conversation_id.to_owned(),
            sender_type: m.sender.clone(),
            content: m.text.clone(),
            timestamp: m.sent_at,
            message: m,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Conversations {
    pub conversations: Vec<LegacyConversation>,
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConversationAndMessages {
    pub conversation: LegacyConversation,
    pub messages: Vec<LegacyMessage>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Messages {
    pub messages: Vec<LegacyMessage>,
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Stats {
    pub stats: Totals,
}

/// Totals over every conversation of the websites asked for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Totals {
    pub total_conversations: i64,
    pub active_conversations: i64,
    pub total_messages: i64,
    /// Messages flagged for a human that no human has replied to yet.
    pub messages_requiring_human: i64,
    /// When the totals were read.
    pub timestamp: DateTime<Utc>,
}

/// A contact request as the old dashboards read it: `request_id` is `id` as well.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyRequest {
    pub id: String,
    #[serde(flatten)]
    pub request: RequestRow,
}

impl From<RequestRow> for LegacyRequest {
    fn from(request: RequestRow) -> Self {
        Self {
            id: request.request_id.clone(),
            request,
        }
    }
}

/// A request moved, as the old dashboards read it: 200 once the projector applied the move,
/// 202 while it has not (the request is then as it was). `status` is the request's.
pub struct Moved {
    pub accepted: bool,
    pub body: Succeeded<MovedRequest>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MovedRequest {
    pub id: String,
    pub status: String,
    pub notes: Option<String>,
    pub event_id: Uuid,
}

impl IntoResponse for Moved {
    fn into_response(self) -> Response {
        let status = if self.accepted {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        (status, Json(self.body)).into_response()
    }
}

impl Answer for Moved {
    fn responses(g: &mut SchemaGenerator) -> Map<String, Value> {
        let schema = g.subschema_for::<Succeeded<MovedRequest>>();
        let mut out = response("200", "the move is applied", json_content(schema.clone()));
        out.extend(response(
            "202",
            "the move is stored and will be applied; the request is as it was",
            json_content(schema),
        ));
        out.extend(response(
            "409",
            "the move is not possible from the request's status",
            None,
        ));
        out
    }
}

/// The old summary's numbers beside every native statistic of the range.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Summary {
    #[serde(flatten)]
    pub period: stats::Period,
    /// `messages`.
    pub total_messages: i64,
    /// `unique_visitors`.
    pub unique_users: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyContacts {
    pub contacts: Vec<LegacyContact>,
    pub total: i64,
    pub total_capped: bool,
    pub page: i64,
}

/// A contact as the old dashboards read it: `contact_id` is `id`, `first_seen_at`
/// `created_at`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LegacyContact {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub conversation_count: i64,
    pub lead_status: String,
}
