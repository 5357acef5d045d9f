//! `GET /openapi.json`: ingest's OpenAPI 3 document, generated from the code. Request bodies
//! come from the types the handlers parse (the event catalogue of `schemas`, the legacy
//! structs); answers are the shapes `events::Outcome` and `ApiError` write.

use axum::Json;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemas::payloads::past::MessageSentV1;
use schemas::{EventType, IncomingContext, Producer};
use serde_json::{Map, Value, json};

use super::legacy;

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

fn body<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    let mut schema = g.root_schema_for::<T>().to_value();
    if let Some(s) = schema.as_object_mut() {
        s.remove("$schema");
    }
    schema
}

/// `{error, message}`, the body of every refusal; `error` is a stable code.
fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

fn retry_later(description: &str) -> Value {
    let mut response = error(description);
    response["headers"] = json!({"Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }});
    response
}

/// The answers every event-taking route may give besides its own 200.
fn refusals() -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "400".into(),
        error("malformed body, or an invalid event, named in `message`"),
    );
    out.insert("401".into(), error("missing or unknown write key"));
    out.insert(
        "403".into(),
        error("the `Origin` is not on the website's allow-list"),
    );
    out.insert(
        "413".into(),
        error("the body, a batch or an event is over its size limit"),
    );
    out.insert(
        "415".into(),
        error("a content type or content encoding ingest does not read"),
    );
    out.insert(
        "429".into(),
        retry_later("the website is over its rate limit; nothing was stored"),
    );
    out.insert(
        "503".into(),
        retry_later("the broker or the key store did not answer; retry with the same event ids"),
    );
    out
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// An object whose listed members are all present; other members may be.
fn object(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "properties": properties, "required": required})
}

fn event_taking(summary: &str, request: Value, answer: Value) -> Value {
    let mut responses = refusals();
    responses.insert("200".into(), answer);
    json!({
        "summary": summary,
        "security": [{"write_key": []}, {"write_key_query": []}, {"basic": []}],
        "requestBody": {"required": true, "content": request},
        "responses": responses,
    })
}

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let event = client_event(&mut g);
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
    let outcome = object(json!({
        "accepted": {"type": "integer", "minimum": 0},
        "event_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "rejected": {"type": "array", "items": object(json!({
            "index": {"type": "integer", "minimum": 0},
            "error": {"type": "string"},
        }))},
    }));
    let status = |value: &str| object(json!({"status": {"type": "string", "enum": [value]}}));
    let json_body = |schema: Value| json!({"application/json": {"schema": schema}});
    let mut events = event_taking(
        "Events: one, an array, `{batch, sent_at}` or NDJSON; gzip allowed. Each event is stored (acknowledged by the broker) or rejected with its reason; an invalid event does not cost its neighbours their place",
        json!({
            "application/json": {"schema": batch},
            // The same JSON as text (what `navigator.sendBeacon` sends), and one event a line.
            "text/plain": {"schema": {"type": "string", "pattern": "\\S"}},
            "application/x-ndjson": {"schema": {"type": "string", "pattern": "\\S"}},
        }),
        ok(
            "`event_ids` of the stored events in request order, and `rejected` with each invalid event's index and reason",
            outcome.clone(),
        ),
    );
    // A batch whose every event is invalid answers 400 with the same per-event detail.
    events["responses"]["400"] = error(
        "malformed body, or every event invalid: `{error, message}` and, for events, the per-event detail",
    );
    let paths = json!({
        "/v1/events": {"post": events},
        "/api/track-interaction": {"post": event_taking(
            "Widget load (becomes widget.loaded)",
            json_body(body::<legacy::TrackInteraction>(&mut g)),
            ok("stored", object(json!({
                "status": {"type": "string", "enum": ["interaction_tracked"]},
                "conversation_id": {"type": "string"},
            }))),
        )},
        "/client/update": {"post": event_taking(
            "A user's message or CTA click (message.sent or cta.clicked)",
            json_body(body::<legacy::ClientUpdate>(&mut g)),
            ok("stored", status("success")),
        )},
        "/api/contact/submit": {"post": event_taking(
            "A contact form (contact.submitted); `id` is the contact request's id",
            json_body(body::<legacy::ContactSubmit>(&mut g)),
            ok("stored", object(json!({
                "id": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["success"]},
                "message": {"type": "string"},
            }))),
        )},
        "/api/chat": {"post": event_taking(
            "A user's message and, with `response`, the bot's answer (message.sent, both or none)",
            json_body(body::<legacy::Chat>(&mut g)),
            ok("stored", status("success")),
        )},
        "/v1/schemas": {"get": {
            "summary": "The wire contract: every event type, its versions, producer and JSON Schema",
            "responses": {"200": ok("the catalogue", object(json!({
                "event": {"type": "object"},
                "incoming_event": {"type": "object"},
                "types": {"type": "array", "items": {"type": "object"}},
            })))},
        }},
        "/_liveness": {"get": {
            "summary": "The process serves",
            "responses": {"200": ok("alive", status("alive"))},
        }},
        "/_readiness": {"get": {
            "summary": "The broker is reachable",
            "responses": {
                "200": ok("ready", status("ready")),
                "503": ok("the broker is unreachable", status("unavailable")),
            },
        }},
    });
    let mut schemas = g.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "properties": {
                "error": {"type": "string", "description": "a stable code, e.g. `invalid_event`"},
                "message": {"type": "string", "description": "what is wrong, naming the field"},
            },
            "required": ["error", "message"],
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Colloquy ingest",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Chat-widget and bot events in. A 200 means the broker acknowledged every stored event; retry anything else with the same `event_id`s.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "write_key": {"type": "apiKey", "in": "header", "name": "X-Write-Key"},
                "write_key_query": {"type": "apiKey", "in": "query", "name": "write_key"},
                "basic": {"type": "http", "scheme": "basic", "description": "the write key as the user name, as Segment's libraries send it"},
            },
        },
    })
}

pub async fn openapi_json() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

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
