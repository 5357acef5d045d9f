//! Event types and their payloads.
//!
//! Every type has a current `schema_version`. [`Payload::parse`] accepts any version a client or
//! the topic may still hold and upcasts it to the current one, so projections only ever see the
//! newest shape.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::FieldError;

/// The name of every event type, past tense and dotted, as it appears in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    WidgetLoaded,
    ConversationStarted,
    MessageSent,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::WidgetLoaded,
        EventType::ConversationStarted,
        EventType::MessageSent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::WidgetLoaded => "widget.loaded",
            EventType::ConversationStarted => "conversation.started",
            EventType::MessageSent => "message.sent",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The version new events of this type are written with.
    pub fn current_version(self) -> u32 {
        match self {
            EventType::WidgetLoaded | EventType::ConversationStarted | EventType::MessageSent => 1,
        }
    }

    /// JSON Schema of the current payload version.
    pub fn payload_schema(self) -> schemars::Schema {
        match self {
            EventType::WidgetLoaded => schemars::schema_for!(WidgetLoaded),
            EventType::ConversationStarted => schemars::schema_for!(ConversationStarted),
            EventType::MessageSent => schemars::schema_for!(MessageSent),
        }
    }
}

/// A typed payload, tagged with its event type. Serialises as `"type": …, "payload": {…}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", content = "payload")]
pub enum Payload {
    #[serde(rename = "widget.loaded")]
    WidgetLoaded(WidgetLoaded),
    #[serde(rename = "conversation.started")]
    ConversationStarted(ConversationStarted),
    #[serde(rename = "message.sent")]
    MessageSent(MessageSent),
}

impl Payload {
    pub fn event_type(&self) -> EventType {
        match self {
            Payload::WidgetLoaded(_) => EventType::WidgetLoaded,
            Payload::ConversationStarted(_) => EventType::ConversationStarted,
            Payload::MessageSent(_) => EventType::MessageSent,
        }
    }

    /// Parses and validates `value` as the payload of `event_type` written at `version`,
    /// upcasting older versions. Errors name fields under `payload.`.
    pub fn parse(event_type: EventType, version: u32, value: Value) -> Result<Self, FieldError> {
        let current = event_type.current_version();
        if version == 0 || version > current {
            return Err(FieldError::new(
                "schema_version",
                format!(
                    "{} supports versions 1 to {current}, got {version}",
                    event_type.name()
                ),
            ));
        }
        let payload = match event_type {
            EventType::WidgetLoaded => Payload::WidgetLoaded(from_value(value)?),
            EventType::ConversationStarted => Payload::ConversationStarted(from_value(value)?),
            EventType::MessageSent => Payload::MessageSent(from_value(value)?),
        };
        payload.validate()?;
        Ok(payload)
    }

    fn validate(&self) -> Result<(), FieldError> {
        match self {
            Payload::WidgetLoaded(p) => {
                bounded(
                    "payload.customer_id",
                    p.customer_id.as_deref(),
                    limits::ID_CHARS,
                )?;
                bounded("payload.page_url", p.page_url.as_deref(), limits::URL_CHARS)
            }
            Payload::ConversationStarted(p) => bounded(
                "payload.customer_id",
                p.customer_id.as_deref(),
                limits::ID_CHARS,
            ),
            Payload::MessageSent(p) => p.validate(),
        }
    }
}

fn from_value<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| FieldError::from_serde("payload", e))
}

/// Upper bounds on string fields, in characters.
pub mod limits {
    pub const ID_CHARS: usize = 256;
    pub const URL_CHARS: usize = 4096;
    pub const TEXT_CHARS: usize = 16_384;
    pub const SHORT_CHARS: usize = 64;
}

pub(crate) fn bounded(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), FieldError> {
    match value {
        Some(v) if v.chars().count() > max_chars => Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        )),
        _ => Ok(()),
    }
}

/// The page with the widget loaded: the visitor *could* chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WidgetLoaded {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
}

/// The visitor actually engaged: opened the chat or sent a first message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationStarted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

/// A user, the bot or a human agent said something in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageSent {
    /// The client's own id for the message, used by later admin actions; the event id
    /// identifies the message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub sender: Sender,
    pub text: String,
    /// How long the bot or agent took to answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_ms: Option<u64>,
    /// The bot's confidence in its answer, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<f64>,
    #[serde(default)]
    pub requires_human: bool,
}

impl MessageSent {
    fn validate(&self) -> Result<(), FieldError> {
        bounded(
            "payload.message_id",
            self.message_id.as_deref(),
            limits::ID_CHARS,
        )?;
        bounded("payload.text", Some(&self.text), limits::TEXT_CHARS)?;
        if let Some(score) = self.confidence_score
            && !(0.0..=1.0).contains(&score)
        {
            return Err(FieldError::new(
                "payload.confidence_score",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    User,
    Bot,
    Agent,
}

impl Sender {
    pub const ALL: [Sender; 3] = [Sender::User, Sender::Bot, Sender::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Bot => "bot",
            Sender::Agent => "agent",
        }
    }
}

// Hand-written so the error reads "expected one of user, bot, agent" rather than serde's
// "unknown variant" wording.
impl<'de> Deserialize<'de> for Sender {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Sender::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom("expected one of user, bot, agent"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_type_name_round_trips() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(t));
        }
        assert_eq!(EventType::from_name("message.deleted"), None);
    }

    #[test]
    fn a_message_with_an_unknown_sender_names_the_field_and_the_choices() {
        let err = Payload::parse(
            EventType::MessageSent,
            1,
            json!({"sender": "robot", "text": "hi"}),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload.sender: expected one of user, bot, agent"
        );
    }

    #[test]
    fn a_message_without_text_names_the_missing_field() {
        let err = Payload::parse(EventType::MessageSent, 1, json!({"sender": "user"})).unwrap_err();
        assert_eq!(err.field, "payload.text");
        assert_eq!(err.message, "is required");
    }

    #[test]
    fn a_mistyped_response_time_names_the_field() {
        let err = Payload::parse(
            EventType::MessageSent,
            1,
            json!({"sender": "bot", "text": "hi", "response_time_ms": "fast"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "payload.response_time_ms");
    }

    #[test]
    fn a_confidence_score_above_one_is_rejected() {
        let err = Payload::parse(
            EventType::MessageSent,
            1,
            json!({"sender": "bot", "text": "hi", "confidence_score": 1.5}),
        )
        .unwrap_err();
        assert_eq!(err.field, "payload.confidence_score");
    }

    #[test]
    fn a_version_newer_than_the_current_one_is_rejected() {
        let err = Payload::parse(EventType::WidgetLoaded, 9, json!({})).unwrap_err();
        assert_eq!(err.field, "schema_version");
    }

    #[test]
    fn an_overlong_page_url_is_rejected() {
        let url = "x".repeat(limits::URL_CHARS + 1);
        let err = Payload::parse(EventType::WidgetLoaded, 1, json!({"page_url": url})).unwrap_err();
        assert_eq!(err.field, "payload.page_url");
    }
}
