//! Event types and their payloads: the catalogue.
//!
//! Every type has a current `schema_version` and a producer: clients (widgets, bots, bridges,
//! through ingest) or admins (through the query API, never accepted from a write key).
//! [`Payload::parse`] accepts any version a client or the topic may still hold and upcasts it
//! step by step to the current one, so projections only ever see the newest shape.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::FieldError;

/// Who may produce an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// Widgets, bot backends and messenger bridges, with a website's write key.
    Client,
    /// Admins, through the query API.
    Admin,
}

/// Declares the catalogue once: each row is `Variant => "type.name", PayloadStruct, version,
/// producer`. Everything that must list every type is generated from it.
macro_rules! catalogue {
    ($($variant:ident => $name:literal, $payload:ident, $version:literal, $producer:ident;)*) => {
        /// The name of every event type, past tense and dotted, as it appears in `type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant,)*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }

            /// The version new events of this type are written with.
            pub fn current_version(self) -> u32 {
                match self {
                    $(EventType::$variant => $version,)*
                }
            }

            pub fn producer(self) -> Producer {
                match self {
                    $(EventType::$variant => Producer::$producer,)*
                }
            }

            /// JSON Schema of the current payload version.
            pub fn payload_schema(self) -> schemars::Schema {
                match self {
                    $(EventType::$variant => schemars::schema_for!($payload),)*
                }
            }

            /// The current payload version's schema from `generator`: a `$ref` into its
            /// definitions, for documents (OpenAPI) that gather every schema in one place.
            pub fn payload_subschema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self {
                    $(EventType::$variant => generator.subschema_for::<$payload>(),)*
                }
            }
        }

        /// A typed payload, tagged with its event type. Serialises as `"type": …, "payload": {…}`.
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        #[serde(tag = "type", content = "payload")]
        pub enum Payload {
            $(#[serde(rename = $name)] $variant($payload),)*
        }

        impl Payload {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Payload::$variant(_) => EventType::$variant,)*
                }
            }

            fn from_current(event_type: EventType, value: Value) -> Result<Self, FieldError> {
                Ok(match event_type {
                    $(EventType::$variant => Payload::$variant(from_value(value)?),)*
                })
            }

            /// The checks beyond the types, for payloads built in code (admin actions).
            pub fn validate(&self) -> Result<(), FieldError> {
                match self {
                    $(Payload::$variant(p) => p.validate(),)*
                }
            }
        }
    };
}

catalogue! {
    WidgetLoaded => "widget.loaded", WidgetLoaded, 1, Client;
    ConversationStarted => "conversation.started", ConversationStarted, 1, Client;
    MessageSent => "message.sent", MessageSent, 2, Client;
    CtaClicked => "cta.clicked", CtaClicked, 1, Client;
    ContactSubmitted => "contact.submitted", ContactSubmitted, 1, Client;
    ConversationRated => "conversation.rated", ConversationRated, 1, Client;
    ConversationClosed => "conversation.closed", ConversationClosed, 1, Client;
    MessageFlaggedForHuman => "message.flagged_for_human", MessageRef, 1, Admin;
    MessageHumanReplied => "message.human_replied", MessageRef, 1, Admin;
    ContactRequestStatusChanged => "contact_request.status_changed", ContactRequestStatusChanged, 1, Admin;
    ContactUpdated => "contact.updated", ContactUpdated, 1, Admin;
    ContactsMerged => "contacts.merged", ContactsMerged, 1, Admin;
    ContactErased => "contact.erased", ContactErased, 1, Admin;
    WebsiteCreated => "website.created", WebsiteCreated, 1, Admin;
    TokenCreated => "token.created", TokenCreated, 1, Admin;
    TokenRevoked => "token.revoked", TokenRevoked, 1, Admin;
    WebsitePrivacyChanged => "website.privacy_changed", WebsitePrivacy, 1, Admin;
    RetentionApplied => "retention.applied", RetentionApplied, 1, Admin;
    WebsiteReportsChanged => "website.reports_changed", WebsiteReports, 1, Admin;
    CustomerErased => "customer.erased", CustomerErased, 1, Admin;
    WebsiteTimeZoneChanged => "website.time_zone_changed", WebsiteTimeZone, 1, Admin;
}

impl EventType {
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl Payload {
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
        let mut value = value;
        for from in version..current {
            value = upcast_step(event_type, from, value)?;
        }
        let payload = Self::from_current(event_type, value)?;
        payload.validate()?;
        Ok(payload)
    }

    /// Like [`Payload::parse`] for a current-version payload whose personal fields were erased
    /// (its sealing key is gone): without them it need not pass validation (a contact form
    /// with neither e-mail nor phone), and it was validated when it was written.
    pub fn parse_erased(event_type: EventType, value: Value) -> Result<Self, FieldError> {
        Self::from_current(event_type, value)
    }
}

/// Rewrites a payload of `event_type` at `version` as `version + 1`. When a type's current
/// version goes up, its step goes here, so old events in the topic and old clients keep
/// working (`Payload::parse` chains the steps). The shapes of past versions are kept in
/// [`past`] for their documentation.
fn upcast_step(event_type: EventType, version: u32, value: Value) -> Result<Value, FieldError> {
    match (event_type, version) {
        // message.sent 1 → 2: `sender` was a bare role; it becomes an object with the role as
        // `type` (and, from version 2, who exactly: `id`, `name`).
        (EventType::MessageSent, 1) => {
            let mut value = value;
            if let Some(object) = value.as_object_mut()
                && let Some(Value::String(role)) = object.get("sender").cloned()
            {
                if !Sender::ALL.iter().any(|s| s.as_str() == role) {
                    return Err(FieldError::new(
                        "payload.sender",
                        "expected one of user, bot, agent",
                    ));
                }
                object.insert("sender".into(), serde_json::json!({ "type": role }));
            }
            Ok(value)
        }
        _ => Err(FieldError::new(
            "schema_version",
            format!("no upcaster from {} version {version}", event_type.name()),
        )),
    }
}

/// The payload shapes of versions that are no longer current, frozen: what old clients send
/// and old records in the topic hold. They are documented (`schemas/json/payloads/`) and read
/// through the upcasters, never built.
pub mod past {
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// `message.sent` version 1: `sender` is the bare role.
    #[derive(Debug, Clone, Deserialize, JsonSchema)]
    pub struct MessageSentV1 {
        pub message_id: Option<String>,
        pub customer_id: Option<String>,
        /// `user`, `bot` or `agent`.
        pub sender: String,
        pub text: String,
        #[schemars(range(max = super::limits::RESPONSE_TIME_MS))]
        pub response_time_ms: Option<u64>,
        pub confidence_score: Option<f64>,
        #[serde(default)]
        pub requires_human: bool,
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
    pub const NAME_CHARS: usize = 256;
    pub const EMAIL_CHARS: usize = 320;
    pub const PHONE_CHARS: usize = 32;
    pub const CHAT_CONTEXT_ENTRIES: usize = 500;
    /// 30 days. Read models sum response times per conversation and day in a `bigint`; values
    /// near `u64::MAX` overflowed it, and Postgres then refused the projector's batch.
    pub const RESPONSE_TIME_MS: u64 = 30 * 24 * 3600 * 1000;
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

fn required(field: &str, value: &str, max_chars: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    bounded(field, Some(value), max_chars)
}

fn email(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    let Some(v) = value else { return Ok(()) };
    bounded(field, Some(v), limits::EMAIL_CHARS)?;
    let valid = v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !v.chars().any(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(field, "is not an e-mail address"))
    }
}

fn phone(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    let Some(v) = value else { return Ok(()) };
    bounded(field, Some(v), limits::PHONE_CHARS)?;
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if allowed && digits >= 5 {
        Ok(())
    } else {
        Err(FieldError::new(field, "is not a phone number"))
    }
}

/// Payload checks beyond what the types say.
trait Validate {
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
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
        bounded("payload.name", self.name.as_deref(), limits::NAME_CHARS)?;
        email("payload.email", self.email.as_deref())?;
        phone("payload.phone", self.phone.as_deref())?;
        bounded(
            "payload.message",
            self.message.as_deref(),
            limits::TEXT_CHARS,
        )?;
        if self.email.is_none() && self.phone.is_none() {
            return Err(FieldError::new(
                "payload.email",
                "an e-mail address or a phone number is required",
            ));
        }
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

/// Where a contact request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Contacted,
    Resolved,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Contacted => "contacted",
            RequestStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Contacted, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// The moves an admin may make: forward, or reopening a resolved request.
    pub fn can_move_to(self, to: RequestStatus) -> bool {
        use RequestStatus::*;
        matches!(
            (self, to),
            (Pending, Contacted)
                | (Pending, Resolved)
                | (Contacted, Resolved)
                | (Resolved, Pending)
        )
    }
}

/// An admin moved a contact request to another status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactRequestStatusChanged {
    pub request_id: String,
    pub status: RequestStatus,
    /// The status the admin saw; when the request has moved on since, the change is recorded as
    /// rejected instead of applied, so two admins cannot silently overwrite each other.
    pub expected_status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Validate for ContactRequestStatusChanged {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.request_id", &self.request_id, limits::ID_CHARS)?;
        bounded("payload.notes", self.notes.as_deref(), limits::TEXT_CHARS)
    }
}

/// A contact's lead status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Active,
    FollowUp,
    Archived,
}

/// An admin edited a contact; absent fields are left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactUpdated {
    pub contact_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_status: Option<LeadStatus>,
}

impl Validate for ContactUpdated {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.contact_id", &self.contact_id, limits::ID_CHARS)?;
        bounded("payload.name", self.name.as_deref(), limits::NAME_CHARS)?;
        email("payload.email", self.email.as_deref())?;
        phone("payload.phone", self.phone.as_deref())?;
        bounded("payload.notes", self.notes.as_deref(), limits::TEXT_CHARS)
    }
}

/// An admin merged contacts: the merged ones' conversations and requests move to the survivor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactsMerged {
    pub surviving_contact_id: String,
    pub merged_contact_ids: Vec<String>,
}

impl Validate for ContactsMerged {
    fn validate(&self) -> Result<(), FieldError> {
        required(
            "payload.surviving_contact_id",
            &self.surviving_contact_id,
            limits::ID_CHARS,
        )?;
        if self.merged_contact_ids.is_empty() {
            return Err(FieldError::new(
                "payload.merged_contact_ids",
                "must not be empty",
            ));
        }
        if self.merged_contact_ids.contains(&self.surviving_contact_id) {
            return Err(FieldError::new(
                "payload.merged_contact_ids",
                "must not contain the surviving contact",
            ));
        }
        Ok(())
    }
}

/// A data subject's erasure: the person's data is removed from every read model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactErased {
    pub contact_id: String,
}

impl Validate for ContactErased {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.contact_id", &self.contact_id, limits::ID_CHARS)
    }
}

/// An admin created a website; its write key works at ingest once this is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteCreated {
    pub website_id: String,
    pub name: String,
    pub write_key: String,
    /// Browser origins that may write; empty for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
}

impl Validate for WebsiteCreated {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        required("payload.name", &self.name, limits::NAME_CHARS)?;
        required("payload.write_key", &self.write_key, limits::ID_CHARS)
    }
}

/// An admin created an API token limited to some websites. The topic holds a digest of the
/// token, never the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    /// The token's digest (see `query-api`'s `auth::digest`).
    pub token_digest: String,
    /// The websites the token may see and act on.
    pub websites: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the token stops working; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the token may create tokens (for its own websites, never beyond its expiry).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub may_mint: bool,
}

impl Validate for TokenCreated {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.token_digest", &self.token_digest, limits::ID_CHARS)?;
        bounded("payload.name", self.name.as_deref(), limits::NAME_CHARS)?;
        if self.websites.is_empty() {
            return Err(FieldError::new("payload.websites", "must not be empty"));
        }
        for (i, website) in self.websites.iter().enumerate() {
            required(&format!("payload.websites[{i}]"), website, limits::ID_CHARS)?;
        }
        Ok(())
    }
}

/// An admin revoked an API token: it stops working once this is applied, whatever order the
/// token's creation and revocation are read in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    /// The revoked token's digest.
    pub token_digest: String,
}

impl Validate for TokenRevoked {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.token_digest", &self.token_digest, limits::ID_CHARS)
    }
}

/// An admin changed a website's privacy settings; the latest change wins. Ingest applies them
/// to the events it receives from then on, before they reach the topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsitePrivacy {
    pub website_id: String,
    /// Store IPv4 addresses with the last octet zeroed and IPv6 addresses cut to their /48.
    pub anonymize_ip: bool,
    /// Days raw IP addresses and message texts are kept; [`DEFAULT_RETENTION_DAYS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Months without activity after which a contact is due for review;
    /// [`DEFAULT_CONTACT_REVIEW_MONTHS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_review_months: Option<u32>,
}

/// How long raw IP addresses and message texts are kept when a website has not said.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// After how many inactive months a contact is due for review when a website has not said.
pub const DEFAULT_CONTACT_REVIEW_MONTHS: u32 = 12;

impl Validate for WebsitePrivacy {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        if self.retention_days == Some(0) {
            return Err(FieldError::new(
                "payload.retention_days",
                "must be at least 1",
            ));
        }
        if self.contact_review_months == Some(0) {
            return Err(FieldError::new(
                "payload.contact_review_months",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// An admin changed who receives a website's weekly report, and when; the latest change wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteReports {
    pub website_id: String,
    /// The addresses the report goes to; none turns the report off.
    pub recipients: Vec<String>,
    /// The IANA time zone the schedule is in ([`DEFAULT_REPORT_TIME_ZONE`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// ISO day of the week the report is sent on, 1 (Monday) to 7 ([`DEFAULT_REPORT_WEEKDAY`]
    /// when absent); it covers the seven days before that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<u8>,
    /// Hour of that day, 0 to 23 ([`DEFAULT_REPORT_HOUR`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
}

pub const DEFAULT_REPORT_TIME_ZONE: &str = "UTC";
pub const DEFAULT_REPORT_WEEKDAY: u8 = 1;
pub const DEFAULT_REPORT_HOUR: u8 = 8;
/// Most recipients one website's report goes to.
pub const MAX_REPORT_RECIPIENTS: usize = 20;

impl Validate for WebsiteReports {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        if self.recipients.len() > MAX_REPORT_RECIPIENTS {
            return Err(FieldError::new(
                "payload.recipients",
                format!("must hold at most {MAX_REPORT_RECIPIENTS} addresses"),
            ));
        }
        for (i, recipient) in self.recipients.iter().enumerate() {
            email(&format!("payload.recipients[{i}]"), Some(recipient))?;
        }
        if let Some(zone) = &self.time_zone {
            time_zone("payload.time_zone", zone)?;
        }
        if self.weekday.is_some_and(|d| !(1..=7).contains(&d)) {
            return Err(FieldError::new(
                "payload.weekday",
                "must be 1 (Monday) to 7 (Sunday)",
            ));
        }
        if self.hour.is_some_and(|h| h > 23) {
            return Err(FieldError::new("payload.hour", "must be 0 to 23"));
        }
        Ok(())
    }
}

/// The shape of an IANA time zone name; whether Postgres knows it is checked by query-api.
fn time_zone(field: &str, zone: &str) -> Result<(), FieldError> {
    let shape = zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if zone.is_empty() || zone.len() > limits::SHORT_CHARS || !shape {
        return Err(FieldError::new(
            field,
            "is not a time zone name (such as Europe/Berlin)",
        ));
    }
    Ok(())
}

/// An admin set the time zone a website's days are counted in (statistics, series, date
/// filters); the latest change wins. Websites that never set one count UTC days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteTimeZone {
    pub website_id: String,
    /// An IANA name, such as `America/Los_Angeles` or `Asia/Kolkata`.
    pub time_zone: String,
}

impl Validate for WebsiteTimeZone {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        time_zone("payload.time_zone", &self.time_zone)
    }
}

/// An admin erased everything a website's own customer id names: its conversations lose their
/// personal data, now and when more arrives. Carries the key
/// ([`crate::contact_keys::customer_key`]), never the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerErased {
    pub customer_key: String,
}

impl Validate for CustomerErased {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.customer_key", &self.customer_key, limits::ID_CHARS)
    }
}

/// The retention job's decision for a website: raw IP addresses and message texts from before
/// `before` are no longer kept. Cut-offs only move forward; the latest applies to data that
/// arrives later too, so replaying the topic in any order reaches the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionApplied {
    pub website_id: String,
    pub before: DateTime<Utc>,
}

impl Validate for RetentionApplied {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_1_message_is_upcast_to_version_2() {
        let p = Payload::parse(
            EventType::MessageSent,
            1,
            json!({"sender": "bot", "text": "hi", "response_time_ms": 300}),
        )
        .unwrap();
        let Payload::MessageSent(m) = p else {
            panic!("not a message")
        };
        assert_eq!(m.sender, SenderRef::role(Sender::Bot));
        assert_eq!(m.response_time_ms, Some(300));
    }

    #[test]
    fn a_version_2_message_names_its_sender() {
        let p = Payload::parse(
            EventType::MessageSent,
            2,
            json!({"sender": {"type": "agent", "id": "a-7", "name": "Sam"}, "text": "hi"}),
        )
        .unwrap();
        let Payload::MessageSent(m) = p else {
            panic!("not a message")
        };
        assert_eq!(m.sender.kind, Sender::Agent);
        assert_eq!(m.sender.name.as_deref(), Some("Sam"));
        // A bare role is the version 1 shape: at version 2 it is an error that says so.
        let err = Payload::parse(
            EventType::MessageSent,
            2,
            json!({"sender": "user", "text": "x"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "payload.sender");
        let err = Payload::parse(
            EventType::MessageSent,
            2,
            json!({"sender": {"type": "robot"}, "text": "x"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "payload.sender.type");
    }

    #[test]
    fn every_type_name_round_trips() {
        for &t in EventType::ALL {
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

    /// Found by Schemathesis: two answers near `u64::MAX` in one conversation overflowed the
    /// read models' `bigint` sums, and the projector retried that batch forever.
    #[test]
    fn a_response_time_over_30_days_is_rejected() {
        let parse = |ms: u64| {
            Payload::parse(
                EventType::MessageSent,
                1,
                json!({"sender": "bot", "text": "hi", "response_time_ms": ms}),
            )
        };
        assert!(parse(limits::RESPONSE_TIME_MS).is_ok());
        let err = parse(limits::RESPONSE_TIME_MS + 1).unwrap_err();
        assert_eq!(err.field, "payload.response_time_ms");
        assert_eq!(
            parse(u64::MAX).unwrap_err().field,
            "payload.response_time_ms"
        );
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

    #[test]
    fn a_contact_submission_needs_an_email_or_a_phone() {
        let err =
            Payload::parse(EventType::ContactSubmitted, 1, json!({"name": "Olivia"})).unwrap_err();
        assert_eq!(err.field, "payload.email");
        assert!(
            Payload::parse(
                EventType::ContactSubmitted,
                1,
                json!({"phone": "+482-719-364"})
            )
            .is_ok()
        );
    }

    #[test]
    fn a_malformed_email_or_phone_is_rejected() {
        let bad_email = json!({"email": "olivia at lumoco"});
        assert_eq!(
            Payload::parse(EventType::ContactSubmitted, 1, bad_email)
                .unwrap_err()
                .field,
            "payload.email"
        );
        let bad_phone = json!({"email": "o@lumoco.dev", "phone": "call me"});
        assert_eq!(
            Payload::parse(EventType::ContactSubmitted, 1, bad_phone)
                .unwrap_err()
                .field,
            "payload.phone"
        );
    }

    #[test]
    fn chat_context_accepts_the_widgets_is_user_spelling() {
        let p = Payload::parse(
            EventType::ContactSubmitted,
            1,
            json!({"email": "o@lumoco.dev", "chat_context": [{"text": "hi", "isUser": true}]}),
        )
        .unwrap();
        let Payload::ContactSubmitted(c) = p else {
            panic!("wrong type")
        };
        assert!(c.chat_context[0].is_user);
    }

    #[test]
    fn a_rating_outside_one_to_five_is_rejected() {
        for rating in [0, 6] {
            let err = Payload::parse(EventType::ConversationRated, 1, json!({"rating": rating}))
                .unwrap_err();
            assert_eq!(err.field, "payload.rating");
        }
    }

    #[test]
    fn a_status_change_names_an_unknown_status() {
        let err = Payload::parse(
            EventType::ContactRequestStatusChanged,
            1,
            json!({"request_id": "r1", "status": "done", "expected_status": "pending"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "payload.status");
    }

    #[test]
    fn a_merge_cannot_merge_the_survivor_into_itself() {
        let err = Payload::parse(
            EventType::ContactsMerged,
            1,
            json!({"surviving_contact_id": "a", "merged_contact_ids": ["b", "a"]}),
        )
        .unwrap_err();
        assert_eq!(err.field, "payload.merged_contact_ids");
    }

    #[test]
    fn every_type_has_a_producer_and_admin_actions_are_admin_only() {
        for t in [
            EventType::ContactErased,
            EventType::WebsiteCreated,
            EventType::ContactRequestStatusChanged,
        ] {
            assert_eq!(t.producer(), Producer::Admin, "{t:?}");
        }
        for t in [
            EventType::WidgetLoaded,
            EventType::MessageSent,
            EventType::ContactSubmitted,
        ] {
            assert_eq!(t.producer(), Producer::Client, "{t:?}");
        }
    }

    #[test]
    fn the_catalogue_holds_every_type_the_design_names() {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        for name in [
            "widget.loaded",
            "conversation.started",
            "message.sent",
            "cta.clicked",
            "contact.submitted",
            "conversation.rated",
            "conversation.closed",
            "message.flagged_for_human",
            "message.human_replied",
            "contact_request.status_changed",
            "contact.updated",
            "contacts.merged",
            "contact.erased",
            "website.created",
            "token.created",
            "website.privacy_changed",
            "retention.applied",
            "customer.erased",
            "website.time_zone_changed",
        ] {
            assert!(names.contains(&name), "{name} missing");
        }
    }
}
