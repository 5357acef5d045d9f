//! `GET /openapi.json`: ingest's OpenAPI 3 document, generated from the routes as they are
//! served ([`runtime::documented`]): request bodies from the types the handlers read (the
//! event catalogue of `schemas`, the legacy structs), answers from the types they return.

use runtime::documented::{Operation, Service, openapi};
use schemars::{JsonSchema, SchemaGenerator};
use schemas::payloads::past::MessageSentV1;
use schemas::{EventType, IncomingContext, Producer};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One event as a client may send it: one variant per client event type and accepted
/// `schema_version`, so that a generator fills in the payload that goes with the type.
fn client_event(g: &mut SchemaGenerator) -> Value {
    let context = g.subschema_for::<IncomingContext>().to_value();
    let mut variants = Vec::new();
    for &t in EventType::ALL {
        if t.producer() != Producer::Client {
            continue;
        }
        let current = t.payload_subschema(g).to_value();
        // Without `schema_version` an event is read as version 1; only message.sent has moved on.
        let versions = if t == EventType::MessageSent {
            vec![
                (
                    json!({"type": "integer", "enum": [1]}),
                    false,
                    g.subschema_for::<MessageSentV1>().to_value(),
                ),
                (json!({"type": "integer", "enum": [2]}), true, current),
            ]
        } else {
            vec![(json!({"type": "integer", "enum": [1]}), false, current)]
        };
        for (version, version_required, payload) in versions {
            let mut required = vec!["type", "conversation_id", "payload"];
            if version_required {
                required.push("schema_version");
            }
            variants.push(json!({
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": [t.name()]},
                    "schema_version": version,
                    "event_id": {
                        "type": "string", "format": "uuid",
                        "description": "Send the same id again when retrying, so the event counts once.",
                    },
                    "conversation_id": {"type": "string", "minLength": 1, "maxLength": 256},
                    "occurred_at": {
                        "type": "string", "format": "date-time",
                        "description": "RFC 3339; defaults to the time ingest received the event.",
                    },
                    "sent_at": {
                        "type": "string", "format": "date-time",
                        "description": "The client's clock when it sent the event, for skew correction.",
                    },
                    "context": context,
                    "payload": payload,
                },
                "required": required,
            }));
        }
    }
    json!({"oneOf": variants})
}

/// Events in any form `POST /v1/events` reads: one, an array, `{batch, sent_at}` or NDJSON.
pub fn events_content(g: &mut SchemaGenerator) -> Value {
    let event = client_event(g);
    let batch = json!({"oneOf": [
        event,
        {"type": "array", "items": event, "minItems": 1},
        {
            "type": "object",
            "properties": {
                "batch": {"type": "array", "items": event, "minItems": 1},
                "sent_at": {"type": "string", "format": "date-time"},
            },
            "required": ["batch"],
        },
    ]});
    json!({
        "application/json": {"schema": batch},
        // The same JSON as text (what `navigator.sendBeacon` sends), and one event a line.
        "text/plain": {"schema": {"type": "string", "pattern": "\\S"}},
        "application/x-ndjson": {"schema": {"type": "string", "pattern": "\\S"}},
    })
}

/// `{error, message}`, the body of every refusal.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Refusal {
    /// A stable code, e.g. `invalid_event`.
    pub error: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// The answers every event-taking route may give besides its own.
fn refusals(g: &mut SchemaGenerator) -> Map<String, Value> {
    let error = g.subschema_for::<Refusal>();
    let refusal = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": error}},
        })
    };
    let retry_later = |description: &str| {
        let mut answer = refusal(description);
        answer["headers"] = json!({"Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }});
        answer
    };
    Map::from_iter([
        (
            "400".into(),
            refusal("malformed body, or an invalid event, named in `message`"),
        ),
        ("401".into(), refusal("missing or unknown write key")),
        (
            "403".into(),
            refusal("the `Origin` is not on the website's allow-list"),
        ),
        (
            "413".into(),
            refusal("the body, a batch or an event is over its size limit"),
        ),
        (
            "415".into(),
            refusal("a content type or content encoding ingest does not read"),
        ),
        (
            "429".into(),
            retry_later("the website is over its rate limit; nothing was stored"),
        ),
        (
            "503".into(),
            retry_later(
                "the broker or Postgres (the key store, or whether an unknown write key is a \
                 new website's) did not answer; retry with the same event ids",
            ),
        ),
    ])
}

/// The OpenAPI 3.0 document of `operations`.
pub fn document(operations: &[Operation]) -> Value {
    let service = Service {
        title: "Colloquy ingest",
        version: env!("CARGO_PKG_VERSION"),
        description: "Chat-widget and bot events in. A 200 means the broker acknowledged every \
                      stored event; retry anything else with the same `event_id`s.",
        security: json!({
            "write_key": {"type": "apiKey", "in": "header", "name": "X-Write-Key"},
            "write_key_query": {"type": "apiKey", "in": "query", "name": "write_key"},
            "basic": {"type": "http", "scheme": "basic", "description": "the write key as the user name, as Segment's libraries send it"},
        }),
        errors: refusals,
    };
    openapi(&service, operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        super::document(&crate::routes::api().into_parts().1)
    }

    /// Every `$ref` names a schema the document defines.
    #[test]
    fn references_resolve() {
        let doc = document();
        let text = doc.to_string();
        let defined = doc["components"]["schemas"].as_object().unwrap();
        let prefix = "\"#/components/schemas/";
        for (at, _) in text.match_indices(prefix) {
            let name = &text[at + prefix.len()..];
            let name = &name[..name.find('"').unwrap()];
            assert!(
                defined.contains_key(name),
                "{name} is referenced, not defined"
            );
        }
        assert!(
            !text.contains("$defs"),
            "nested definitions escape the document"
        );
    }

    /// Only what a write key may send is offered, and message.sent in both versions.
    #[test]
    fn events_are_the_client_types() {
        let doc = document();
        let variants = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["oneOf"][0]["oneOf"]
            .as_array()
            .unwrap()
            .clone();
        let names: Vec<&str> = variants
            .iter()
            .filter_map(|v| v["properties"]["type"]["enum"][0].as_str())
            .collect();
        let clients = EventType::ALL
            .iter()
            .filter(|t| t.producer() == Producer::Client)
            .count();
        assert_eq!(names.len(), clients + 1);
        assert_eq!(names.iter().filter(|n| **n == "message.sent").count(), 2);
        assert!(!names.contains(&"contact.erased"));
    }
}
