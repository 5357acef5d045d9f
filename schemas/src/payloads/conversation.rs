//! What clients send about a conversation: the widget, messages and their senders, CTAs,
//! contact forms, ratings and closes, and the admin marks on one message.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserializer;
use serde::{Deserialize, Serialize};

use super::Validate;
use super::checks::{bounded, person, required};
use super::limits;
use crate::error::FieldError;

/// The page with the widget loaded: the visitor *could* chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WidgetLoaded {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
}

impl Validate for WidgetLoaded {
    fn validate(&self) -> Result<(), FieldError> {
        bounded(
            "payload.customer_id",
            self.customer_id.as_deref(),
            limits::ID_CHARS,
        )?;
        bounded(
            "payload.page_url",
            self.page_url.as_deref(),
            limits::URL_CHARS,
        )
    }
}

/// The visitor actually engaged: opened the chat or sent a first message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationStarted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

impl Validate for ConversationStarted {
    fn validate(&self) -> Result<(), FieldError> {
        bounded(
            "payload.customer_id",
            self.customer_id.as_deref(),
            limits::ID_CHARS,
        )
    }
}

/// A user, the bot or a human agent said something in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageSent {
    /// The client's own id for the message, used by later admin actions; the event id
    /// identifies the message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The visitor, when the client knows who it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Who said it: the role (`type`), and when the client knows them, who exactly.
    pub sender: SenderRef,
    pub text: String,
    /// How long the bot or agent took to answer, in milliseconds (at most 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = limits::RESPONSE_TIME_MS))]
    pub response_time_ms: Option<u64>,
    /// The bot's confidence in its answer, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<f64>,
    #[serde(default)]
    pub requires_human: bool,
}

impl Validate for MessageSent {
    fn validate(&self) -> Result<(), FieldError> {
        bounded(
            "payload.message_id",
            self.message_id.as_deref(),
            limits::ID_CHARS,
        )?;
        bounded(
            "payload.customer_id",
            self.customer_id.as_deref(),
            limits::ID_CHARS,
        )?;
        bounded("payload.text", Some(&self.text), limits::TEXT_CHARS)?;
        bounded(
            "payload.sender.id",
            self.sender.id.as_deref(),
            limits::ID_CHARS,
        )?;
        bounded(
            "payload.sender.name",
            self.sender.name.as_deref(),
            limits::NAME_CHARS,
        )?;
        if self
            .response_time_ms
            .is_some_and(|ms| ms > limits::RESPONSE_TIME_MS)
        {
            return Err(FieldError::new(
                "payload.response_time_ms",
                format!("must be at most {} (30 days)", limits::RESPONSE_TIME_MS),
            ));
        }
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

/// A call-to-action button in the chat was clicked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CtaClicked {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cta_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The button's text.
    pub label: String,
    /// Where it leads, or the value it submits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Validate for CtaClicked {
    fn validate(&self) -> Result<(), FieldError> {
        bounded("payload.cta_id", self.cta_id.as_deref(), limits::ID_CHARS)?;
        bounded(
            "payload.customer_id",
            self.customer_id.as_deref(),
            limits::ID_CHARS,
        )?;
        required("payload.label", &self.label, limits::NAME_CHARS)?;
        bounded("payload.value", self.value.as_deref(), limits::URL_CHARS)
    }
}

/// A contact form (or e-mail collection) was submitted in the chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactSubmitted {
    /// The contact request's id; ingest assigns one when the client does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The transcript the visitor saw when submitting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat_context: Vec<ChatLine>,
}

/// One line of a transcript as the widget showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatLine {
    pub text: String,
    /// Said by the visitor (`true`) or the bot (`false`). `isUser` is accepted too.
    #[serde(alias = "isUser")]
    pub is_user: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
}

impl Validate for ContactSubmitted {
    fn validate(&self) -> Result<(), FieldError> {
        bounded(
            "payload.request_id",
            self.request_id.as_deref(),
            limits::ID_CHARS,
        )?;
        person(
            self.name.as_deref(),
            self.email.as_deref(),
            self.phone.as_deref(),
        )?;
        bounded(
            "payload.message",
            self.message.as_deref(),
            limits::TEXT_CHARS,
        )?;
        if self.chat_context.len() > limits::CHAT_CONTEXT_ENTRIES {
            return Err(FieldError::new(
                "payload.chat_context",
                format!("must have at most {} lines", limits::CHAT_CONTEXT_ENTRIES),
            ));
        }
        for (i, line) in self.chat_context.iter().enumerate() {
            bounded(
                &format!("payload.chat_context[{i}].text"),
                Some(&line.text),
                limits::TEXT_CHARS,
            )?;
        }
        Ok(())
    }
}

/// The visitor rated the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationRated {
    /// 1 (worst) to 5 (best).
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Validate for ConversationRated {
    fn validate(&self) -> Result<(), FieldError> {
        if !(1..=5).contains(&self.rating) {
            return Err(FieldError::new("payload.rating", "must be between 1 and 5"));
        }
        bounded(
            "payload.comment",
            self.comment.as_deref(),
            limits::TEXT_CHARS,
        )
    }
}

/// The conversation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationClosed {
    pub reason: CloseReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The visitor closed it.
    User,
    /// An admin closed it.
    Admin,
    /// Nobody said anything for a while.
    Inactivity,
}

impl Validate for ConversationClosed {}

/// An admin set how urgently a conversation needs attention; the latest setting wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationPriority {
    /// `null` clears it: the conversation then reads `high` while flagged for a human, else
    /// `normal`.
    pub priority: Option<Priority>,
}

impl Validate for ConversationPriority {}

/// How urgently a conversation needs attention.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    /// Its number, higher for more urgent: what the legacy routes' integer `priority` and the
    /// read models store (`low` 1 to `urgent` 4).
    pub fn rank(self) -> i16 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Urgent => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.rank() == rank)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// An admin action on one message (flagged for a human, or a human replied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageRef {
    /// The message's `message_id`, or the id of the event that sent it.
    pub message_id: String,
}

impl Validate for MessageRef {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.message_id", &self.message_id, limits::ID_CHARS)
    }
}

/// The sender of a message (`message.sent` version 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SenderRef {
    #[serde(rename = "type")]
    pub kind: Sender,
    /// The user's, bot's or agent's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A display name, e.g. the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl SenderRef {
    pub fn role(kind: Sender) -> Self {
        Self {
            kind,
            id: None,
            name: None,
        }
    }
}

impl From<Sender> for SenderRef {
    fn from(kind: Sender) -> Self {
        Self::role(kind)
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
