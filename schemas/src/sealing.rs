//! Sealed personal data: how an event's personal fields are stored in the topic so that an
//! erasure can make them unreadable for good (crypto-shredding).
//!
//! Every event that can carry personal data is written with those fields taken out of the
//! clear JSON and encrypted (XChaCha20-Poly1305) under a key of its *subject*: the
//! conversation it belongs to (for admin events, the subject they are keyed by, e.g.
//! `contact:<id>`). The keys live in a key store beside the read models
//! (`colloquy.subject_keys`), never in the topic. Erasing a person deletes the keys of their
//! conversations; from then on the ciphertext in the topic, in copies of it and in backups of
//! the topic is noise to every reader, and a replay sees the event as erased: its personal
//! fields are absent, everything else (type, times, ids, counts) is as it was.
//!
//! What stays in the clear so that an erased event still links and counts: the contact keys of
//! a submitted e-mail address and phone number and the customer key of a customer id
//! ([`Pseudonyms`], name-based UUIDs, the same ids the API already shows), and the daily-salted
//! visitor hash.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::contact_keys;
use crate::envelope::{Event, Pseudonyms};
use crate::error::FieldError;
use crate::payloads::{EventType, Payload, Producer};

/// The context fields that are personal data.
pub const CONTEXT_FIELDS: &[&str] = &["ip", "user_agent"];

/// The payload fields that are personal data, in the event types that are sealed.
pub const PAYLOAD_FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "message",
    "text",
    "chat_context",
    "comment",
    "notes",
    "customer_id",
];

/// Whether events of `event_type` are sealed: what visitors send, and the admin events that
/// write about a person (contact edits, notes on their requests).
pub fn seals(event_type: EventType) -> bool {
    event_type.producer() == Producer::Client
        || matches!(
            event_type,
            EventType::ContactUpdated | EventType::ContactRequestStatusChanged
        )
}

/// A subject's key: 256 random bits, named by a random id that sealed events carry.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey {
    pub id: Uuid,
    pub secret: [u8; 32],
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SubjectKey {
    pub fn generate() -> Self {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        Self {
            // Time-ordered, so the key store's index on ids grows at its end instead of
            // taking each new key on a random page. The id is a name, not a secret.
            id: Uuid::now_v7(),
            secret: key.into(),
        }
    }
}

/// The `sealed` member of a stored event: which key, and the nonce and ciphertext of the
/// personal fields as `{"context": {…}, "payload": {…}}`, base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sealed {
    pub key_id: Uuid,
    /// Base64 of a 24-byte nonce followed by the ciphertext and its 16-byte tag. The event id
    /// is the associated data, so a sealed part cannot be moved to another event.
    pub data: String,
}

/// The pseudonyms of what an event's personal fields name: kept in the clear when the fields
/// are sealed.
pub fn pseudonyms(event: &Event) -> Pseudonyms {
    let website = &event.website_id;
    let customer =
        |c: &Option<String>| c.as_deref().map(|c| contact_keys::customer_key(website, c));
    // What a form or an identification names a person by.
    let person = |email: &Option<String>, phone: &Option<String>, customer| Pseudonyms {
        email: email
            .as_deref()
            .map(|e| contact_keys::email_key(website, e)),
        phone: phone
            .as_deref()
            .map(|p| contact_keys::phone_key(website, p)),
        customer,
    };
    match &event.payload {
        Payload::ContactSubmitted(c) => person(&c.email, &c.phone, None),
        Payload::ContactIdentified(c) => person(&c.email, &c.phone, customer(&c.customer_id)),
        Payload::WidgetLoaded(p) => Pseudonyms {
            customer: customer(&p.customer_id),
            ..Pseudonyms::default()
        },
        Payload::ConversationStarted(p) => Pseudonyms {
            customer: customer(&p.customer_id),
            ..Pseudonyms::default()
        },
        Payload::MessageSent(p) => Pseudonyms {
            customer: customer(&p.customer_id),
            ..Pseudonyms::default()
        },
        Payload::CtaClicked(p) => Pseudonyms {
            customer: customer(&p.customer_id),
            ..Pseudonyms::default()
        },
        _ => Pseudonyms::default(),
    }
}

impl Event {
    /// The JSON bytes written to the topic, with the personal fields sealed under `key`. An
    /// event with no personal field present is written as [`Event::encode`] writes it.
    pub fn encode_sealed(&self, key: &SubjectKey) -> Result<Vec<u8>, serde_json::Error> {
        if !seals(self.event_type()) {
            return self.encode();
        }
        let mut value = serde_json::to_value(self)?;
        let Some(record) = value.as_object_mut() else {
            return self.encode();
        };
        let mut hidden = Map::new();
        for (section, fields) in [("context", CONTEXT_FIELDS), ("payload", PAYLOAD_FIELDS)] {
            let Some(Value::Object(members)) = record.get_mut(section) else {
                continue;
            };
            let taken: Map<String, Value> = fields
                .iter()
                .filter_map(|f| members.remove(*f).map(|v| ((*f).to_owned(), v)))
                .collect();
            if !taken.is_empty() {
                hidden.insert(section.to_owned(), Value::Object(taken));
            }
        }
        if hidden.is_empty() {
            return self.encode();
        }
        let pseudonyms = pseudonyms(self);
        if !pseudonyms.is_empty()
            && let Some(Value::Object(context)) = record.get_mut("context")
        {
            context.insert("pseudonyms".into(), serde_json::to_value(pseudonyms)?);
        }
        let plain = serde_json::to_vec(&hidden)?;
        let cipher = XChaCha20Poly1305::new(&key.secret.into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = self.event_id.as_bytes();
        let sealed = cipher
            .encrypt(&nonce, AeadPayload { msg: &plain, aad })
            .map_err(|_| serde::ser::Error::custom("cannot seal the personal fields"))?;
        let mut data = nonce.to_vec();
        data.extend_from_slice(&sealed);
        let sealed = Sealed {
            key_id: key.id,
            data: BASE64.encode(data),
        };
        record.insert("sealed".into(), serde_json::to_value(sealed)?);
        serde_json::to_vec(&value)
    }
}

/// Puts the personal fields sealed in `sealed` back into `context` and `payload`, with the key
/// `secret`; without a key (it was erased) leaves them absent, except that a required text
/// becomes empty so the event still parses. Returns whether the fields were erased.
pub(crate) fn open(
    sealed: &Sealed,
    secret: Option<&[u8; 32]>,
    event_id: Uuid,
    event_type: EventType,
    context: &mut Value,
    payload: &mut Value,
) -> Result<bool, FieldError> {
    let Some(secret) = secret else {
        if event_type == EventType::MessageSent
            && let Value::Object(p) = payload
        {
            p.entry("text")
                .or_insert_with(|| Value::String(String::new()));
        }
        return Ok(true);
    };
    let unreadable = || FieldError::new("sealed", "cannot be opened with its key");
    let data = BASE64.decode(&sealed.data).map_err(|_| unreadable())?;
    if data.len() < 24 {
        return Err(unreadable());
    }
    let (nonce, ciphertext) = data.split_at(24);
    let cipher = XChaCha20Poly1305::new(&(*secret).into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            AeadPayload {
                msg: ciphertext,
                aad: event_id.as_bytes(),
            },
        )
        .map_err(|_| unreadable())?;
    let hidden: Map<String, Value> = serde_json::from_slice(&plain).map_err(|_| unreadable())?;
    for (section, target) in [("context", context), ("payload", payload)] {
        if let (Some(Value::Object(fields)), Value::Object(target)) = (hidden.get(section), target)
        {
            for (k, v) in fields {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Context, StoredEvent};
    use crate::payloads::{ContactSubmitted, MessageSent, Sender, WebsiteCreated};
    use chrono::Utc;

    fn event(payload: Payload) -> Event {
        Event {
            event_id: Uuid::now_v7(),
            schema_version: payload.event_type().current_version(),
            website_id: "shop".into(),
            conversation_id: "c-1".into(),
            // What a reader gets back: times to the microsecond.
            occurred_at: crate::envelope::as_stored(Utc::now()),
            received_at: crate::envelope::as_stored(Utc::now()),
            context: Context {
                ip: Some("203.0.113.7".parse().unwrap()),
                user_agent: Some("Firefox/140".into()),
                channel: "frame".into(),
                visitor: Some("v-hash".into()),
                ..Context::default()
            },
            payload,
        }
    }

    fn form() -> Event {
        event(Payload::ContactSubmitted(ContactSubmitted {
            request_id: Some("rq-1".into()),
            name: Some("Olivia Rossi".into()),
            email: Some("olivia@example.com".into()),
            phone: Some("+39 06 1234567".into()),
            message: Some("Call me about Berlin".into()),
            chat_context: vec![],
        }))
    }

    fn message(customer: Option<&str>) -> Event {
        event(Payload::MessageSent(MessageSent {
            message_id: None,
            customer_id: customer.map(str::to_owned),
            sender: Sender::User.into(),
            text: "my address is Via Roma 1".into(),
            response_time_ms: None,
            confidence_score: None,
            requires_human: false,
        }))
    }

    fn stored(bytes: &[u8]) -> StoredEvent {
        StoredEvent::parse(bytes).unwrap()
    }

    #[test]
    fn a_sealed_event_opens_with_its_key_to_what_was_encoded_plus_its_pseudonyms() {
        let key = SubjectKey::generate();
        let original = form();
        let bytes = original.encode_sealed(&key).unwrap();
        let record = stored(&bytes);
        assert_eq!(record.key_id(), Some(key.id));
        let opened = record.open(Some(&key.secret)).unwrap();
        assert_eq!(opened.payload, original.payload);
        assert_eq!(opened.context.ip, original.context.ip);
        assert_eq!(opened.context.user_agent, original.context.user_agent);
        assert_eq!(
            opened.context.pseudonyms.email.as_deref(),
            Some(contact_keys::email_key("shop", "olivia@example.com").as_str())
        );
    }

    #[test]
    fn the_clear_part_of_a_sealed_event_holds_no_personal_field() {
        let key = SubjectKey::generate();
        for event in [form(), message(Some("cust-42"))] {
            let text = String::from_utf8(event.encode_sealed(&key).unwrap()).unwrap();
            for personal in [
                "Olivia",
                "olivia@",
                "1234567",
                "Berlin",
                "203.0.113",
                "Firefox",
                "Via Roma",
                "cust-42",
            ] {
                assert!(!text.contains(personal), "{personal} in {text}");
            }
            assert!(text.contains("\"sealed\""), "{text}");
            assert!(
                text.contains("v-hash"),
                "the salted visitor hash stays: {text}"
            );
        }
    }

    #[test]
    fn a_sealed_record_keeps_every_clear_member_of_the_plain_encoding() {
        let key = SubjectKey::generate();
        for event in [form(), message(Some("cust-42")), message(None)] {
            let mut expected: Value = serde_json::from_slice(&event.encode().unwrap()).unwrap();
            for (section, personal) in [("context", CONTEXT_FIELDS), ("payload", PAYLOAD_FIELDS)] {
                let members = expected[section].as_object_mut().unwrap();
                members.retain(|name, _| !personal.contains(&name.as_str()));
            }
            let mut sealed: Value =
                serde_json::from_slice(&event.encode_sealed(&key).unwrap()).unwrap();
            let record = sealed.as_object_mut().unwrap();
            assert!(record.remove("sealed").is_some());
            let context = record["context"].as_object_mut().unwrap();
            context.remove("pseudonyms");
            assert_eq!(sealed, expected);
        }
    }

    #[test]
    fn without_its_key_a_sealed_event_opens_erased_but_still_links_and_counts() {
        let key = SubjectKey::generate();
        let original = form();
        let erased = stored(&original.encode_sealed(&key).unwrap())
            .open(None)
            .unwrap();
        let Payload::ContactSubmitted(c) = &erased.payload else {
            panic!("not a form")
        };
        assert_eq!(
            (&c.name, &c.email, &c.phone, &c.message),
            (&None, &None, &None, &None)
        );
        assert_eq!(c.request_id.as_deref(), Some("rq-1"));
        assert_eq!(
            (erased.context.ip, &erased.context.user_agent),
            (None, &None)
        );
        assert_eq!(erased.context.pseudonyms, pseudonyms(&original));
        assert_eq!(erased.event_id, original.event_id);

        let erased = stored(&message(Some("cust-42")).encode_sealed(&key).unwrap())
            .open(None)
            .unwrap();
        let Payload::MessageSent(m) = &erased.payload else {
            panic!("not a message")
        };
        assert_eq!((m.text.as_str(), &m.customer_id), ("", &None));
        assert_eq!(
            erased.context.pseudonyms.customer,
            Some(contact_keys::customer_key("shop", "cust-42"))
        );
    }

    #[test]
    fn another_key_or_another_event_cannot_open_a_sealed_part() {
        let key = SubjectKey::generate();
        let bytes = form().encode_sealed(&key).unwrap();
        let wrong = SubjectKey::generate();
        assert!(stored(&bytes).open(Some(&wrong.secret)).is_err());

        // The sealed part moved to another event does not open: the event id is bound to it.
        let mut value: Value = serde_json::from_slice(&bytes).unwrap();
        value["event_id"] = Value::String(Uuid::now_v7().to_string());
        let moved = serde_json::to_vec(&value).unwrap();
        assert!(stored(&moved).open(Some(&key.secret)).is_err());
    }

    #[test]
    fn events_without_personal_data_are_stored_in_the_clear() {
        let key = SubjectKey::generate();
        let website = event(Payload::WebsiteCreated(WebsiteCreated {
            website_id: "shop".into(),
            name: "Lumo Shop".into(),
            write_key: "wk".into(),
            allowed_origins: vec![],
        }));
        let bytes = website.encode_sealed(&key).unwrap();
        assert_eq!(stored(&bytes).key_id(), None);
        assert_eq!(Event::decode(&bytes).unwrap(), website);
    }
}
