//! The Segment HTTP Tracking API's messages (`track`, `identify`, `page`, `screen`, `group`,
//! `alias`), as Segment's and RudderStack's libraries send them, onto Colloquy's events
//! (docs/segment.md has the table). A message becomes one canonical event, which then takes
//! the path of every event (validation, enrichment, sealing, the broker), or is answered as not
//! used, with why: nothing is dropped without a word.
//!
//! Pure: no I/O, so the mapping is tested here on its own.

use chrono::{DateTime, Utc};
use schemas::{EventType, Producer};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The namespace of event ids made from `messageId`s: the same website and `messageId` give
/// the same event id, so a library's retry of a batch counts once.
const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x5e6a_11c1_0c0f_4a3b_8d2e_61b7_c9a0_f3d4);

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    /// The canonical event, as `POST /v1/events` takes it.
    Event(Value),
    /// A well-formed message Colloquy has no event for, and why.
    NotUsed(String),
}

/// The call a route stands for; `batch` messages name their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl Call {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "track" => Call::Track,
            "identify" => Call::Identify,
            "page" => Call::Page,
            "screen" => Call::Screen,
            "group" => Call::Group,
            "alias" => Call::Alias,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Call::Track => "track",
            Call::Identify => "identify",
            Call::Page => "page",
            Call::Screen => "screen",
            Call::Group => "group",
            Call::Alias => "alias",
        }
    }
}

/// The client event type a `track` call's `event` names: the type itself (`message.sent`) or
/// its words in any case (`Message Sent`, `CTA Clicked`). Admin types are never named.
pub fn tracked_type(event: &str) -> Option<EventType> {
    let spoken = |t: &str| t.replace(['.', '_'], " ");
    let wanted = event.trim();
    EventType::ALL
        .iter()
        .copied()
        .filter(|t| t.producer() == Producer::Client && *t != EventType::ContactIdentified)
        .find(|t| t.name() == wanted || spoken(t.name()).eq_ignore_ascii_case(wanted))
}

/// The event id a message's `messageId` names on `website_id`.
pub fn event_id(website_id: &str, message_id: &str) -> Uuid {
    Uuid::new_v5(
        &MESSAGE_NAMESPACE,
        format!("{website_id}\u{0}{message_id}").as_bytes(),
    )
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A string or a number, as ids are sent (`userId: 42`).
pub fn id_text(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The conversation a message names: `conversation_id` (or `conversationId`) in its
/// properties or traits, else in its context.
fn conversation(message: &Value, fields: &Value) -> Option<String> {
    let named = |v: &Value| id_text(v, "conversation_id").or_else(|| id_text(v, "conversationId"));
    named(fields).or_else(|| message.get("context").and_then(named))
}

/// Maps one message. `call` is the route's (`None` on `batch`, where each message says its
/// `type`). `Err` is a malformed message, answered as rejected.
pub fn map(message: &Value, call: Option<Call>, website_id: &str) -> Result<Mapped, String> {
    if !message.is_object() {
        return Err("expected a message object".into());
    }
    let call = match (call, text(message, "type")) {
        (Some(call), _) => call,
        (None, Some(kind)) => Call::parse(kind).ok_or_else(|| {
            format!(
                "type: {kind:?} is not a Segment call (track, identify, page, screen, group, alias)"
            )
        })?,
        (None, None) => return Err("type: is required in a batch".into()),
    };
    let customer = id_text(message, "userId").or_else(|| id_text(message, "anonymousId"));
    if customer.is_none() {
        return Err("userId or anonymousId: one is required".into());
    }
    let empty = Value::Object(Map::new());
    let (kind, fields) = match call {
        Call::Track => {
            let name = text(message, "event").ok_or("event: a track call needs its name")?;
            let Some(kind) = tracked_type(name) else {
                return Ok(Mapped::NotUsed(format!(
                    "track {name:?} names no Colloquy event (docs/segment.md lists them)"
                )));
            };
            (kind, message.get("properties").unwrap_or(&empty))
        }
        Call::Page | Call::Screen => {
            let properties = message.get("properties").unwrap_or(&empty);
            if conversation(message, properties).is_none() {
                return Ok(Mapped::NotUsed(format!(
                    "a {} call is used only when it names the conversation the widget showed \
                     (properties.conversation_id)",
                    call.name()
                )));
            }
            (EventType::WidgetLoaded, properties)
        }
        Call::Identify => return Ok(identify(message, customer, website_id)),
        Call::Group | Call::Alias => {
            return Ok(Mapped::NotUsed(format!(
                "{}: Colloquy has no accounts or aliases to record",
                call.name()
            )));
        }
    };
    let Some(conversation_id) = conversation(message, fields) else {
        return Ok(Mapped::NotUsed(format!(
            "{:?} names no conversation (properties.conversation_id)",
            kind.name()
        )));
    };
    let mut payload = match fields {
        Value::Object(map) => map.clone(),
        _ => return Err("properties: expected an object".into()),
    };
    payload.remove("conversation_id");
    payload.remove("conversationId");
    let takes_customer = matches!(
        kind,
        EventType::WidgetLoaded
            | EventType::ConversationStarted
            | EventType::MessageSent
            | EventType::CtaClicked
    );
    if takes_customer && !payload.contains_key("customer_id") {
        payload.insert("customer_id".into(), json!(customer));
    }
    if kind == EventType::WidgetLoaded
        && !payload.contains_key("page_url")
        && let Some(url) = page_url(message)
    {
        payload.insert("page_url".into(), json!(url));
    }
    let mut event = json!({
        "type": kind.name(),
        "conversation_id": conversation_id,
        "context": context(message),
        "payload": payload,
    });
    stamp(&mut event, message, website_id);
    Ok(Mapped::Event(event))
}

/// An `identify` call: the traits that name a person (`email`, `phone`, `name` or
/// `firstName`/`lastName`) become a `contact.identified` in the conversation it names.
fn identify(message: &Value, customer: Option<String>, website_id: &str) -> Mapped {
    let empty = Value::Object(Map::new());
    let traits = message.get("traits").unwrap_or(&empty);
    let (email, phone) = (text(traits, "email"), text(traits, "phone"));
    if email.is_none() && phone.is_none() {
        return Mapped::NotUsed(
            "an identify call is used when its traits carry an email or a phone, what a \
             contact is known by"
                .into(),
        );
    }
    let Some(conversation_id) = conversation(message, traits) else {
        return Mapped::NotUsed(
            "an identify call is used when it names the visitor's conversation \
             (traits.conversation_id or context.conversation_id)"
                .into(),
        );
    };
    let name = text(traits, "name").map(str::to_owned).or_else(|| {
        let parts: Vec<&str> = [text(traits, "firstName"), text(traits, "lastName")]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let mut payload = Map::new();
    for (field, value) in [
        ("customer_id", customer),
        ("name", name),
        ("email", email.map(str::to_owned)),
        ("phone", phone.map(str::to_owned)),
    ] {
        if let Some(value) = value {
            payload.insert(field.into(), json!(value));
        }
    }
    let mut event = json!({
        "type": EventType::ContactIdentified.name(),
        "conversation_id": conversation_id,
        "context": context(message),
        "payload": payload,
    });
    stamp(&mut event, message, website_id);
    Mapped::Event(event)
}

/// The event id from `messageId`, and the times, of `message` on `event`.
fn stamp(event: &mut Value, message: &Value, website_id: &str) {
    if let Some(id) = id_text(message, "messageId") {
        event["event_id"] = json!(event_id(website_id, &id));
    }
    // The device's clock when the call was made; ingest corrects it by `sentAt`.
    if let Some(at) = text(message, "originalTimestamp").or_else(|| text(message, "timestamp")) {
        event["occurred_at"] = json!(at);
    }
    if let Some(at) = text(message, "sentAt") {
        event["sent_at"] = json!(at);
    }
}

fn page_url(message: &Value) -> Option<String> {
    let properties = message.get("properties");
    properties
        .and_then(|p| text(p, "url"))
        .or_else(|| message.pointer("/context/page/url").and_then(Value::as_str))
        .map(str::to_owned)
}

/// The canonical context from Segment's: the browser's user agent, the page, the locale, and
/// the library in `metadata`. Ingest takes the address from the connection, never from here.
fn context(message: &Value) -> Value {
    let c = message.get("context").cloned().unwrap_or_default();
    let mut out = Map::new();
    if let Some(ua) = text(&c, "userAgent") {
        out.insert("user_agent".into(), json!(ua));
    }
    if let Some(url) = page_url(message) {
        out.insert("page_url".into(), json!(url));
    }
    if let Some(locale) = text(&c, "locale") {
        out.insert("language".into(), json!(locale));
    }
    if let Some(library) = c.get("library").filter(|l| l.is_object()) {
        out.insert("metadata".into(), json!({ "library": library }));
    }
    Value::Object(out)
}

/// The visitor address a message names in `context.ip`; read only from trusted proxies.
pub fn relayed_ip(message: &Value) -> Option<std::net::IpAddr> {
    message
        .pointer("/context/ip")?
        .as_str()?
        .trim()
        .parse()
        .ok()
}

/// The `sentAt` of a batch, for messages that carry none of their own.
pub fn batch_sent_at(body: &Value) -> Option<DateTime<Utc>> {
    text(body, "sentAt")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: Value) -> Value {
        match map(&message, None, "shop").unwrap() {
            Mapped::Event(e) => e,
            other => panic!("{other:?}"),
        }
    }

    fn not_used(message: Value) -> String {
        match map(&message, None, "shop").unwrap() {
            Mapped::NotUsed(why) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_track_names_its_event_by_type_or_in_words() {
        for name in [
            "message.sent",
            "Message Sent",
            "message sent",
            "MESSAGE SENT",
        ] {
            assert_eq!(tracked_type(name), Some(EventType::MessageSent), "{name}");
        }
        assert_eq!(tracked_type("CTA Clicked"), Some(EventType::CtaClicked));
        assert_eq!(
            tracked_type("Contact Submitted"),
            Some(EventType::ContactSubmitted)
        );
        assert_eq!(
            tracked_type("Conversation Closed"),
            Some(EventType::ConversationClosed)
        );
        // Admin events are not a write key's to send, under any name.
        assert_eq!(tracked_type("contact.erased"), None);
        assert_eq!(tracked_type("Contact Erased"), None);
        assert_eq!(tracked_type("Order Completed"), None);
    }

    #[test]
    fn a_tracked_message_becomes_its_event_with_the_customer_page_and_library() {
        let e = event(json!({
            "type": "track", "event": "Message Sent", "userId": "u-1", "anonymousId": "a-1",
            "messageId": "m-1",
            "properties": {"conversation_id": "c-1", "sender": "user", "text": "Hello"},
            "context": {"userAgent": "Mozilla/5.0", "locale": "nb-NO",
                        "page": {"url": "https://shop.example/pricing"},
                        "library": {"name": "analytics-python", "version": "2.4.0"},
                        "ip": "6.6.6.6"},
            "originalTimestamp": "2026-12-01T10:00:00Z", "sentAt": "2026-12-01T10:00:05Z",
        }));
        assert_eq!(e["type"], "message.sent");
        assert_eq!(e["conversation_id"], "c-1");
        assert_eq!(
            e["payload"],
            json!({"sender": "user", "text": "Hello", "customer_id": "u-1"})
        );
        assert_eq!(e["event_id"], json!(event_id("shop", "m-1")));
        assert_eq!(e["occurred_at"], "2026-12-01T10:00:00Z");
        assert_eq!(e["sent_at"], "2026-12-01T10:00:05Z");
        assert_eq!(
            e["context"],
            json!({"user_agent": "Mozilla/5.0", "language": "nb-NO",
                   "page_url": "https://shop.example/pricing",
                   "metadata": {"library": {"name": "analytics-python", "version": "2.4.0"}}})
        );
        // The address is never taken from the body.
        assert!(!e.to_string().contains("6.6.6.6"));
    }

    #[test]
    fn the_same_message_id_is_the_same_event_on_one_website_only() {
        assert_eq!(event_id("shop", "m-1"), event_id("shop", "m-1"));
        assert_ne!(event_id("shop", "m-1"), event_id("other", "m-1"));
        assert_ne!(event_id("shop", "m-1"), event_id("shop", "m-2"));
        // Numbers are ids too.
        let e = event(
            json!({"type": "track", "event": "CTA Clicked", "userId": 42,
                             "messageId": 7, "properties": {"conversationId": "c", "label": "Buy"}}),
        );
        assert_eq!(e["event_id"], json!(event_id("shop", "7")));
        assert_eq!(e["payload"]["customer_id"], "42");
    }

    #[test]
    fn a_page_with_a_conversation_is_a_widget_load_and_without_one_is_not_used() {
        let e = event(
            json!({"type": "page", "anonymousId": "a", "name": "Pricing",
                             "properties": {"conversation_id": "c", "url": "https://s.example/p"}}),
        );
        assert_eq!(e["type"], "widget.loaded");
        assert_eq!(e["payload"]["page_url"], "https://s.example/p");
        assert_eq!(e["payload"]["customer_id"], "a");
        assert!(not_used(json!({"type": "page", "anonymousId": "a"})).contains("conversation_id"));
        assert!(not_used(json!({"type": "screen", "anonymousId": "a"})).contains("screen"));
    }

    #[test]
    fn an_identify_naming_a_person_and_a_conversation_is_a_contact_identified() {
        let e = event(
            json!({"type": "identify", "userId": "u-7", "messageId": "i-1",
                             "traits": {"email": "grace@example.com", "firstName": "Grace",
                                        "lastName": "Hopper", "plan": "pro"},
                             "context": {"conversation_id": "c-3"}}),
        );
        assert_eq!(e["type"], "contact.identified");
        assert_eq!(e["conversation_id"], "c-3");
        assert_eq!(
            e["payload"],
            json!({"customer_id": "u-7", "name": "Grace Hopper", "email": "grace@example.com"})
        );
        assert_eq!(e["event_id"], json!(event_id("shop", "i-1")));
        let named = event(json!({"type": "identify", "anonymousId": "a",
                                 "traits": {"phone": "+47 22 00 00 00", "name": "Ada",
                                            "conversation_id": "c-4"}}));
        assert_eq!(named["payload"]["name"], "Ada");
        assert_eq!(named["conversation_id"], "c-4");
        // Without an address or a conversation there is no contact to record.
        assert!(
            not_used(
                json!({"type": "identify", "userId": "u", "traits": {"name": "Ada"},
                            "context": {"conversation_id": "c"}})
            )
            .contains("email")
        );
        assert!(
            not_used(json!({"type": "identify", "userId": "u",
                            "traits": {"email": "a@example.com"}}))
            .contains("conversation")
        );
        // A track call cannot send it under its own name.
        assert_eq!(tracked_type("contact.identified"), None);
    }

    #[test]
    fn other_calls_and_names_are_answered_as_not_used_with_why() {
        assert!(
            not_used(json!({"type": "track", "event": "Order Completed", "userId": "u"}))
                .contains("Order Completed")
        );
        assert!(
            not_used(json!({"type": "group", "userId": "u", "groupId": "g"})).contains("group")
        );
        assert!(
            not_used(json!({"type": "alias", "userId": "u", "previousId": "p"})).contains("alias")
        );
        assert!(
            not_used(
                json!({"type": "track", "event": "Message Sent", "userId": "u",
                            "properties": {"text": "hi"}})
            )
            .contains("conversation")
        );
    }

    #[test]
    fn malformed_messages_are_errors_that_name_the_field() {
        let err = |m: Value| map(&m, None, "shop").unwrap_err();
        assert!(err(json!({"event": "x", "userId": "u"})).starts_with("type"));
        assert!(err(json!({"type": "boom", "userId": "u"})).starts_with("type"));
        assert!(err(json!({"type": "track", "event": "Message Sent"})).contains("userId"));
        assert!(err(json!({"type": "track", "userId": "u"})).starts_with("event"));
        assert!(err(json!("a string")).contains("object"));
        // A single-call route says the call; the message need not.
        assert!(matches!(
            map(
                &json!({"event": "Order Completed", "userId": "u"}),
                Some(Call::Track),
                "s"
            ),
            Ok(Mapped::NotUsed(_))
        ));
    }
}
