//! JSON Schema documents generated from the Rust types.
//!
//! The files under `schemas/json/` are what non-Rust producers and consumers read; a test
//! regenerates them and fails when the checked-in copies drift from the code
//! (`UPDATE_JSON_SCHEMAS=1 cargo test -p schemas` rewrites them). Ingest serves the same
//! documents at `GET /v1/schemas`.

use serde_json::{Value, json};

use crate::envelope::{Event, IncomingEvent};
use crate::payloads::{EventType, Producer};

/// Every document as `(relative file name, pretty JSON)`.
pub fn documents() -> Vec<(String, String)> {
    let mut docs = vec![
        ("event.json".to_owned(), schemars::schema_for!(Event)),
        (
            "incoming-event.json".to_owned(),
            schemars::schema_for!(IncomingEvent),
        ),
        (
            "sealed.json".to_owned(),
            schemars::schema_for!(crate::sealing::Sealed),
        ),
    ];
    for t in EventType::ALL {
        docs.push((
            format!("payloads/{}.v{}.json", t.name(), t.current_version()),
            t.payload_schema(),
        ));
    }
    // Versions old clients may still send.
    docs.push((
        "payloads/message.sent.v1.json".to_owned(),
        schemars::schema_for!(crate::payloads::past::MessageSentV1),
    ));
    docs.into_iter()
        .map(|(name, schema)| {
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
            (name, text)
        })
        .collect()
}

/// The whole contract as one JSON document: the envelopes and, per type, its current version,
/// who produces it and its payload schema.
pub fn catalogue() -> Value {
    let types: Vec<Value> = EventType::ALL
        .iter()
        .map(|t| {
            json!({
                "type": t.name(),
                "schema_version": t.current_version(),
                "accepts_versions": (1..=t.current_version()).collect::<Vec<u32>>(),
                "producer": match t.producer() { Producer::Client => "client", Producer::Admin => "admin" },
                "payload": t.payload_schema(),
            })
        })
        .collect();
    json!({
        "event": schemars::schema_for!(Event),
        "incoming_event": schemars::schema_for!(IncomingEvent),
        "sealed": {
            "schema": schemars::schema_for!(crate::sealing::Sealed),
            "context_fields": crate::sealing::CONTEXT_FIELDS,
            "payload_fields": crate::sealing::PAYLOAD_FIELDS,
        },
        "types": types,
    })
}
