//! `GET /openapi.json` and `GET /docs`: the OpenAPI 3 document, generated from the routes as
//! they are served ([`runtime::documented`]): each operation's parameters, body and answers
//! come from the types its handler takes and returns. `/docs` is a plain HTML page of it.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use runtime::documented::{Answer, Operation, Service, openapi, response};
use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

use crate::store::populations::Population;

/// What any admin operation may answer besides its own answers.
fn errors(_: &mut SchemaGenerator) -> Map<String, Value> {
    let retry = json!({"Retry-After": {"schema": {"type": "integer", "minimum": 1}}});
    let errors = json!({
        "401": {"description": "missing or unknown token"},
        "403": {"description": "the token may not do this (e.g. only the bootstrap token creates websites)"},
        "404": {"description": "not found, or outside the token's websites"},
        "429": {"description": "too many wrong tokens from this address", "headers": retry},
        "503": {
            "description": "Postgres or the broker did not answer; nothing was done",
            "headers": retry,
        },
    });
    errors.as_object().cloned().unwrap_or_default()
}

/// The document of `operations`.
pub fn document(operations: &[Operation]) -> Value {
    let service = Service {
        title: "Colloquy query API",
        version: env!("CARGO_PKG_VERSION"),
        description: "Admin views, statistics, exports and admin actions over the Colloquy read \
                      models. Every read answers with `as_of`, the projector position it \
                      reflects; every action is an event.",
        security: json!({"bearer": {"type": "http", "scheme": "bearer"}}),
        errors,
    };
    let mut document = openapi(&service, operations);
    // What each population holds, from its one definition: the dashboard reads them.
    let definitions: Map<String, Value> = Population::ALL
        .iter()
        .map(|p| (p.name().to_owned(), json!(p.definition())))
        .collect();
    for op in document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
        .flat_map(|m| m.as_object_mut().into_iter().flat_map(|m| m.values_mut()))
    {
        for parameter in op["parameters"].as_array_mut().into_iter().flatten() {
            if parameter["name"] == "population" {
                parameter["x-definitions"] = definitions.clone().into();
            }
        }
    }
    document
}

/// The page, as `GET /docs` answers it.
pub struct Page(String);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_SECURITY_POLICY, DOCS_POLICY)],
            Html(self.0),
        )
            .into_response()
    }
}

impl Answer for Page {
    fn responses(_: &mut SchemaGenerator) -> Map<String, Value> {
        response(
            "200",
            "a page listing every operation",
            Some(json!({"text/html": {"schema": {"type": "string"}}})),
        )
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What `/docs` may load: its inline style and nothing else; no script, no frames.
const DOCS_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A page listing every operation with its parameters, from the same document.
pub fn docs(doc: &Value) -> Page {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>Colloquy query API</title>\
         <style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
         code{background:#f3f3f3;padding:0 .2em}h2{margin-top:2rem;border-bottom:1px solid #ddd}\
         td{vertical-align:top;padding:.1rem .6rem}</style></head><body>\
         <h1>Colloquy query API</h1><p>Machine-readable, with every answer's schema: \
         <a href=\"/openapi.json\">/openapi.json</a>. Operations marked <em>token</em> need \
         <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
    );
    if let Some(paths) = doc["paths"].as_object() {
        for (path, methods) in paths {
            for (method, op) in methods.as_object().into_iter().flatten() {
                let token = if op.get("security").is_some() {
                    " <em>token</em>"
                } else {
                    ""
                };
                html.push_str(&format!(
                    "<h2><code>{} {}</code>{token}</h2><p>{}</p>",
                    method.to_uppercase(),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or_default())
                ));
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                if !params.is_empty() {
                    html.push_str("<table>");
                    for p in params {
                        html.push_str(&format!(
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                            escape(p["name"].as_str().unwrap_or_default()),
                            escape(p["in"].as_str().unwrap_or_default()),
                            escape(p["description"].as_str().unwrap_or_default())
                        ));
                    }
                    html.push_str("</table>");
                }
                html.push_str("<table>");
                for (status, answer) in op["responses"].as_object().into_iter().flatten() {
                    html.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td></tr>",
                        escape(status),
                        escape(answer["description"].as_str().unwrap_or_default())
                    ));
                }
                html.push_str("</table>");
            }
        }
    }
    html.push_str("</body></html>");
    Page(html)
}
