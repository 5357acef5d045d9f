//! The envelope every event travels in.
//!
//! Two shapes: [`IncomingEvent`] is what a client may send (no tenant, no server time, optional
//! id); [`Event`] is the complete record ingest writes to the topic after enrichment.
//!
//! Over 500 lines with its unit tests (a third of it), kept beside the envelope they test.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::FieldError;
use crate::payloads::{EventType, Payload, Producer, bounded, limits};
use crate::sealing::{self, Sealed};

/// One event as stored in the `chat-events` topic.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Event {
    /// Client-supplied for idempotency (retries re-send the same id), else a UUIDv7 from ingest.
    pub event_id: Uuid,
    /// The payload's version; after [`Event::decode`] always the type's current version.
    pub schema_version: u32,
    /// The tenant, taken from the write key, never from the request body.
    pub website_id: String,
    /// The chat session; the Kafka key, so one conversation's events stay in order.
    pub conversation_id: String,
    /// When it happened, by the client's clock (corrected for skew), else `received_at`. To the
    /// microsecond, as Postgres keeps it ([`as_stored`]): ingest writes it so, and a reader cuts
    /// the finer times of records written before.
    pub occurred_at: DateTime<Utc>,
    /// When ingest received it, to the microsecond too.
    pub received_at: DateTime<Utc>,
    pub context: Context,
    #[serde(flatten)]
    pub payload: Payload,
}

/// The stored envelope with the payload still untyped, so the type and version can pick the
/// payload's parser (and upcaster), and sealed fields can be put back first.
#[derive(Deserialize)]
struct StoredEnvelope {
    event_id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u32,
    website_id: String,
    conversation_id: String,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    #[serde(default = "empty_object")]
    context: Value,
    #[serde(default = "empty_object")]
    payload: Value,
    #[serde(default)]
    sealed: Option<Sealed>,
}

/// A record from the topic, parsed but not yet opened: [`StoredEvent::key_id`] names the key
/// its personal fields are sealed with, if they are, and [`StoredEvent::open`] makes the event.
pub struct StoredEvent {
    raw: StoredEnvelope,
}

impl StoredEvent {
    pub fn parse(bytes: &[u8]) -> Result<Self, FieldError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: StoredEnvelope =
            serde_path_to_error::deserialize(&mut de).map_err(|e| FieldError::from_serde("", e))?;
        Ok(Self { raw })
    }

    /// The key the personal fields are sealed with; `None` for an event stored in the clear.
    pub fn key_id(&self) -> Option<Uuid> {
        self.raw.sealed.as_ref().map(|s| s.key_id)
    }

    /// The event, upcast to the current version. `secret` is the key named by
    /// [`StoredEvent::key_id`]; without it (the key was erased) the personal fields are absent.
    pub fn open(self, secret: Option<&[u8; 32]>) -> Result<Event, FieldError> {
        let mut raw = self.raw;
        let event_type = parse_type(&raw.event_type)?;
        let erased = match &raw.sealed {
            Some(sealed) => sealing::open(
                sealed,
                secret,
                raw.event_id,
                event_type,
                &mut raw.context,
                &mut raw.payload,
            )?,
            None => false,
        };
        storable_time("occurred_at", raw.occurred_at)?;
        storable_time("received_at", raw.received_at)?;
        // After opening, so that sealed fields are checked too.
        no_nul("context", &raw.context)?;
        no_nul("payload", &raw.payload)?;
        let payload = if erased {
            Payload::parse_erased(event_type, raw.payload)?
        } else {
            Payload::parse(event_type, raw.schema_version, raw.payload)?
        };
        let context = serde_path_to_error::deserialize(raw.context)
            .map_err(|e| FieldError::from_serde("context", e))?;
        Ok(Event {
            event_id: raw.event_id,
            schema_version: event_type.current_version(),
            website_id: raw.website_id,
            conversation_id: raw.conversation_id,
            occurred_at: as_stored(raw.occurred_at),
            received_at: as_stored(raw.received_at),
            context,
            payload,
        })
    }
}

impl Event {
    pub fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// Whether a reader of the topic will accept this event as it is: the checks of
    /// [`StoredEvent::open`] (its payload's, storable times, no NUL character anywhere: Postgres
    /// stores none). For events built in code, such as admin actions, before producing them.
    pub fn check(&self) -> Result<(), FieldError> {
        self.payload.validate()?;
        storable_time("occurred_at", self.occurred_at)?;
        storable_time("received_at", self.received_at)?;
        let value = serde_json::to_value(self)
            .map_err(|e| FieldError::new("", format!("cannot be encoded: {e}")))?;
        no_nul("", &value)
    }

    /// The JSON bytes written to the topic.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Decodes a record from the topic, upcasting its payload to the current version. Sealed
    /// personal fields stay absent, as for a reader without the key store: the projector opens
    /// records with their keys through [`StoredEvent`].
    pub fn decode(bytes: &[u8]) -> Result<Self, FieldError> {
        StoredEvent::parse(bytes)?.open(None)
    }
}

/// Where and how the event happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Context {
    /// The client's IP, from the connection (or a trusted proxy), never from a request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `mobile`, `tablet`, `desktop` or `bot`: from the client, else from the user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `frame` (the web widget), `livechat`, `telegram`, `messenger`, `whatsapp`, `web`, `api`, …
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The visitor's country (ISO 3166-1 alpha-2, such as `FR`), which ingest looked its
    /// address up in before anonymising it; absent for private and loopback addresses, for
    /// addresses the database does not place, for events not sent by a browser, and for
    /// websites that turned it off (`record_country`). Set by ingest only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// `denied` when the visitor opted out of tracking (the widget's consent banner, or the
    /// browser's Do Not Track / Global Privacy Control): ingest then stored no IP, user agent,
    /// customer id or metadata, and the event is counted anonymously.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// Who the visitor is for unique-visitor counts when no customer id is known: a hash of the
    /// website, IP and user agent with a salt that changes daily and is then discarded, so it
    /// links one day's events and cannot be turned back into an address. Set by ingest only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<String>,
    /// Set by ingest beside sealed personal fields, so that the event still links and counts
    /// after they are erased; see [`Pseudonyms`].
    #[serde(default, skip_serializing_if = "Pseudonyms::is_empty")]
    pub pseudonyms: Pseudonyms,
    /// On an admin event, the token that acted: `bootstrap` for the configuration's token, else
    /// the created token's digest. Set by query-api only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// Pseudonymous ids of what an event's sealed personal fields name: the contact keys of a
/// submitted e-mail address and phone number, and the customer key of a customer id
/// ([`crate::contact_keys`]). They identify a person only to someone who already knows the
/// address or id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pseudonyms {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

impl Pseudonyms {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.customer.is_none()
    }
}

/// Whether the visitor agreed to be tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    Granted,
    Denied,
}

fn default_channel() -> String {
    "api".to_owned()
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Development,
}

/// One event as a client sends it: validated, typed, not yet enriched.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
pub struct IncomingEvent {
    /// Send the same id again when retrying, so the event counts once.
    pub event_id: Option<Uuid>,
    /// The payload's version; 1 when absent (the shape clients sent before versions existed).
    /// Older versions are upcast to the current one.
    pub schema_version: Option<u32>,
    pub conversation_id: String,
    /// RFC 3339; defaults to the time ingest received the event.
    pub occurred_at: Option<DateTime<Utc>>,
    pub context: IncomingContext,
    #[schemars(flatten)]
    pub payload: Payload,
}

/// The context a client may set. `ip` is not among the fields: ingest takes it from the
/// connection, so a browser cannot claim someone else's address.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
pub struct IncomingContext {
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub user_agent: Option<String>,
    /// `mobile`, `tablet`, `desktop` or `bot`; derived from the user agent when absent.
    #[serde(default)]
    #[schemars(extend("enum" = ["mobile", "tablet", "desktop", "bot"]))]
    pub device: Option<String>,
    #[serde(default)]
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,64}$"))]
    pub channel: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::SHORT_CHARS))]
    pub language: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::URL_CHARS))]
    pub page_url: Option<String>,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// `denied`: the visitor opted out of tracking; see [`Context::consent`].
    #[serde(default)]
    pub consent: Option<Consent>,
}

#[derive(Deserialize)]
struct RawIncoming {
    #[serde(default)]
    event_id: Option<Uuid>,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    schema_version: Option<u32>,
    conversation_id: String,
    #[serde(default)]
    occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    context: IncomingContext,
    #[serde(default = "empty_object")]
    payload: Value,
}

impl IncomingEvent {
    /// Parses and validates one event from a client. The error names the first bad field.
    pub fn parse(value: Value) -> Result<Self, FieldError> {
        if !value.is_object() {
            return Err(FieldError::new("", "an event must be a JSON object"));
        }
        no_nul("", &value)?;
        let raw: RawIncoming =
            serde_path_to_error::deserialize(value).map_err(|e| FieldError::from_serde("", e))?;
        let event_type = parse_type(&raw.event_type)?;
        if event_type.producer() != Producer::Client {
            return Err(FieldError::new(
                "type",
                format!(
                    "{} is an admin action; the query API produces it",
                    event_type.name()
                ),
            ));
        }
        // Without a version, an event is read as its type's first version: the shape clients
        // sent before versions existed. New shapes are opted into by naming their version.
        let version = raw.schema_version.unwrap_or(1);
        let payload = Payload::parse(event_type, version, raw.payload)?;
        validate_id("conversation_id", &raw.conversation_id)?;
        raw.context.validate()?;
        Ok(IncomingEvent {
            event_id: raw.event_id,
            schema_version: raw.schema_version,
            conversation_id: raw.conversation_id,
            occurred_at: raw.occurred_at,
            context: raw.context,
            payload,
        })
    }
}

impl IncomingContext {
    fn validate(&self) -> Result<(), FieldError> {
        bounded("context.user_agent", self.user_agent.as_deref(), 1024)?;
        bounded(
            "context.language",
            self.language.as_deref(),
            limits::SHORT_CHARS,
        )?;
        bounded(
            "context.page_url",
            self.page_url.as_deref(),
            limits::URL_CHARS,
        )?;
        if let Some(device) = &self.device
            && !DEVICES.contains(&device.as_str())
        {
            return Err(FieldError::new(
                "context.device",
                "expected one of mobile, tablet, desktop, bot",
            ));
        }
        if let Some(channel) = &self.channel {
            let token =
                |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
            if channel.is_empty()
                || channel.len() > limits::SHORT_CHARS
                || !channel.chars().all(token)
            {
                return Err(FieldError::new(
                    "context.channel",
                    "must be 1 to 64 lowercase letters, digits, '-' or '_'",
                ));
            }
        }
        Ok(())
    }
}

/// Rejects a NUL character anywhere in `value`'s strings or keys: Postgres stores no NUL in
/// text or JSON, so such an event could never be projected. Refused at ingest with the field's
/// name, and dead-lettered by the projector if one reaches the topic some other way, instead of
/// failing its batch again and again.
/// Postgres stores no time before 4713 BC; a record from before year 1 would fail its batch
/// forever, so it is refused (and dead-lettered) instead. Ingest never writes one.
fn storable_time(field: &str, time: DateTime<Utc>) -> Result<(), FieldError> {
    use chrono::Datelike as _;
    if time.year() < 1 {
        return Err(FieldError::new(field, "is before year 1"));
    }
    Ok(())
}

/// `time` as Postgres stores it: whole microseconds from 2000-01-01, the part below cut toward
/// that instant (as sqlx encodes a time). A reader compares events both in memory (within a
/// batch) and in Postgres (across batches); with finer times in memory, two events in the same
/// microsecond would be ordered by time in one batch and by id across two, and the read models
/// would depend on how the events were batched.
pub fn as_stored(time: DateTime<Utc>) -> DateTime<Utc> {
    let epoch = DateTime::<Utc>::from_naive_utc_and_offset(
        chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default(),
        Utc,
    );
    (time - epoch).num_microseconds().map_or(time, |micros| {
        epoch + chrono::TimeDelta::microseconds(micros)
    })
}

/// Fails at the first string or key holding a NUL character (Postgres text cannot store one),
/// naming it by its path under `path`. Every event passes through this, so the path is only
/// built when there is something to report.
fn no_nul(path: &str, value: &Value) -> Result<(), FieldError> {
    let Some(mut segments) = nul_at(value) else {
        return Ok(());
    };
    segments.reverse();
    let mut at = path.to_owned();
    for segment in segments {
        match segment {
            Segment::Key(key) if at.is_empty() => at.push_str(key),
            Segment::Key(key) => {
                at.push('.');
                at.push_str(key);
            }
            Segment::Index(i) => at.push_str(&format!("[{i}]")),
        }
    }
    Err(FieldError::new(&at, "must not contain a NUL character"))
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path to the first NUL, innermost segment first; a key holding one is reported at the
/// object that has it.
fn nul_at(value: &Value) -> Option<Vec<Segment<'_>>> {
    match value {
        Value::String(s) => s.contains('\0').then(Vec::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            let mut path = nul_at(v)?;
            path.push(Segment::Index(i));
            Some(path)
        }),
        Value::Object(members) => members.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(Vec::new());
            }
            let mut path = nul_at(v)?;
            path.push(Segment::Key(k));
            Some(path)
        }),
        _ => None,
    }
}

/// The device types a context may name.
pub const DEVICES: [&str; 4] = ["mobile", "tablet", "desktop", "bot"];

fn parse_type(name: &str) -> Result<EventType, FieldError> {
    EventType::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        FieldError::new(
            "type",
            format!("unknown event type {name:?}; known: {}", known.join(", ")),
        )
    })
}

fn validate_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    bounded(field, Some(id), limits::ID_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payloads::{MessageSent, Sender};
    use serde_json::json;

    /// A record from a producer whose clock went before year 1 is refused, not stored.
    #[test]
    fn a_record_before_year_1_is_refused() {
        let mut event = message("Hello");
        event.occurred_at = "-0100-01-01T00:00:00Z".parse().unwrap();
        let bytes = event.encode().unwrap();
        assert_eq!(Event::decode(&bytes).unwrap_err().field, "occurred_at");
        event.occurred_at = "0001-01-01T00:00:00Z".parse().unwrap();
        assert!(Event::decode(&event.encode().unwrap()).is_ok());
    }

    #[test]
    fn a_nul_is_named_by_its_path() {
        let field = |path: &str, value: Value| no_nul(path, &value).unwrap_err().field;
        assert_eq!(field("payload", json!({"text": "a\u{0}"})), "payload.text");
        assert_eq!(
            field("", json!({"a": [1, {"b": ["x", "\u{0}"]}]})),
            "a[1].b[1]"
        );
        assert_eq!(field("", json!([{"k\u{0}": 1}])), "[0]");
        assert_eq!(field("context", json!({"m": {"k\u{0}": 1}})), "context.m");
        assert_eq!(
            no_nul("", &json!({"a": ["b", {"c": 1.5}], "d": null})),
            Ok(())
        );
    }

    /// An event built in code is checked as the topic's reader will check it.
    #[test]
    fn check_refuses_a_nul_anywhere_and_accepts_the_rest() {
        assert_eq!(message("Hello").check(), Ok(()));
        let error = message("a\u{0}b").check().unwrap_err();
        assert_eq!(error.field, "payload.text");
        let mut event = message("Hello");
        event.context.page_url = Some("https://x.example/\u{0}".into());
        assert_eq!(event.check().unwrap_err().field, "context.page_url");
    }

    #[test]
    fn a_reader_gets_times_to_the_microsecond_postgres_stores() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut event = message("Hello");
        event.occurred_at = t("2026-12-05T05:50:36.360891999Z");
        event.received_at = t("1999-12-31T23:59:59.000000500Z");
        let read = Event::decode(&event.encode().unwrap()).unwrap();
        assert_eq!(read.occurred_at, t("2026-12-05T05:50:36.360891Z"));
        // Before 2000 the part below a microsecond is cut toward 2000, as sqlx encodes it.
        assert_eq!(read.received_at, t("1999-12-31T23:59:59.000001Z"));
        assert_eq!(Event::decode(&read.encode().unwrap()).unwrap(), read);
    }

    fn message(text: &str) -> Event {
        Event {
            event_id: Uuid::now_v7(),
            schema_version: 2,
            website_id: "demo".into(),
            conversation_id: "c-1".into(),
            // What a reader gets back: times to the microsecond.
            occurred_at: as_stored(Utc::now()),
            received_at: as_stored(Utc::now()),
            context: Context {
                channel: "frame".into(),
                ..Context::default()
            },
            payload: Payload::MessageSent(MessageSent {
                customer_id: None,
                message_id: None,
                sender: Sender::User.into(),
                text: text.into(),
                response_time_ms: None,
                confidence_score: None,
                requires_human: false,
            }),
        }
    }

    #[test]
    fn a_stored_event_decodes_to_what_was_encoded() {
        let event = message("hello");
        let bytes = event.encode().unwrap();
        assert_eq!(Event::decode(&bytes).unwrap(), event);
    }

    #[test]
    fn the_stored_form_carries_type_and_payload_at_the_top_level() {
        let value: Value = serde_json::from_slice(&message("hi").encode().unwrap()).unwrap();
        assert_eq!(value["type"], "message.sent");
        assert_eq!(value["payload"]["text"], "hi");
        assert_eq!(value["schema_version"], 2);
    }

    #[test]
    fn a_nul_character_is_refused_from_clients_and_in_the_topic() {
        let err = IncomingEvent::parse(json!({
            "type": "message.sent", "conversation_id": "c",
            "payload": {"sender": "user", "text": "a\u{0}b"}
        }))
        .unwrap_err();
        assert_eq!(err.field, "payload.text");
        let mut stored: Value = serde_json::from_slice(&message("x").encode().unwrap()).unwrap();
        stored["context"]["metadata"] = json!({"k\u{0}": 1});
        let err = Event::decode(&serde_json::to_vec(&stored).unwrap()).unwrap_err();
        assert_eq!(err.field, "context.metadata");
    }

    /// Found by fuzzing: without exact float parsing a number could come back one unit in the
    /// last place off.
    #[test]
    fn numbers_come_back_from_the_topic_exactly() {
        let mut event = message("x");
        event
            .context
            .metadata
            .insert("n".into(), json!(7.777772777777779e111));
        let bytes = event.encode().unwrap();
        assert_eq!(Event::decode(&bytes).unwrap(), event);
    }

    #[test]
    fn a_record_that_is_not_json_fails_to_decode() {
        assert!(Event::decode(b"\x00not json").is_err());
    }

    #[test]
    fn an_incoming_event_needs_a_conversation_id() {
        let err = IncomingEvent::parse(json!({"type": "widget.loaded"})).unwrap_err();
        assert_eq!(err.field, "conversation_id");
    }

    #[test]
    fn an_empty_conversation_id_is_rejected() {
        let err = IncomingEvent::parse(json!({"type": "widget.loaded", "conversation_id": " "}))
            .unwrap_err();
        assert_eq!(err.to_string(), "conversation_id: must not be empty");
    }

    #[test]
    fn an_unknown_type_lists_the_known_ones() {
        let err = IncomingEvent::parse(json!({"type": "chat.exploded", "conversation_id": "c"}))
            .unwrap_err();
        assert_eq!(err.field, "type");
        assert!(err.message.contains("message.sent"), "{err}");
    }

    #[test]
    fn an_invalid_occurred_at_names_the_field() {
        let err = IncomingEvent::parse(json!({
            "type": "widget.loaded", "conversation_id": "c", "occurred_at": "yesterday"
        }))
        .unwrap_err();
        assert_eq!(err.field, "occurred_at");
    }

    #[test]
    fn an_ip_in_the_body_is_ignored() {
        let event = IncomingEvent::parse(json!({
            "type": "widget.loaded", "conversation_id": "c", "context": {"ip": "6.6.6.6"}
        }))
        .unwrap();
        assert_eq!(event.context, IncomingContext::default());
    }

    #[test]
    fn a_channel_with_spaces_is_rejected() {
        let err = IncomingEvent::parse(json!({
            "type": "widget.loaded", "conversation_id": "c", "context": {"channel": "Web Widget"}
        }))
        .unwrap_err();
        assert_eq!(err.field, "context.channel");
    }

    #[test]
    fn an_event_that_is_not_an_object_is_rejected() {
        assert!(IncomingEvent::parse(json!([1, 2])).is_err());
    }

    #[test]
    fn a_message_parses_into_its_typed_payload() {
        let event = IncomingEvent::parse(json!({
            "type": "message.sent", "conversation_id": "c",
            "payload": {"sender": "bot", "text": "Hi!", "response_time_ms": 420, "confidence_score": 0.9}
        }))
        .unwrap();
        let Payload::MessageSent(m) = event.payload else {
            panic!("not a message")
        };
        assert_eq!(
            (m.sender.kind, m.text.as_str(), m.response_time_ms),
            (Sender::Bot, "Hi!", Some(420))
        );
    }

    #[test]
    fn a_client_cannot_send_an_admin_action() {
        let err = IncomingEvent::parse(json!({
            "type": "contact.erased", "conversation_id": "c", "payload": {"contact_id": "x"}
        }))
        .unwrap_err();
        assert_eq!(err.field, "type");
        assert!(err.message.contains("admin action"), "{err}");
    }
}
