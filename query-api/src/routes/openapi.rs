//! `GET /openapi.json` and `GET /docs`: the OpenAPI 3 document, generated from the code — the
//! query-parameter and body structs the handlers parse and the row types they answer with,
//! through their JSON Schemas — and a plain HTML page that lists it.

use axum::Json;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::{
    contacts, conversations, exports, legacy, reports, requests, stats, subjects, tokens, websites,
};
use crate::store;
use crate::store::populations::Population;

/// A schema from the generator: `$ref`s into `components/schemas`.
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn root<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.root_schema_for::<T>()
}

/// One operation.
struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// The struct its query string is parsed into.
    query: Option<SchemaFn>,
    /// The struct its JSON body is parsed into.
    body: Option<SchemaFn>,
    /// What the answer holds, and where its rows are: `("conversations[]", row)` for a list
    /// of rows under `conversations`, `("contact", row)` for one row (or null) under `contact`.
    response: (&'static str, Option<(&'static str, SchemaFn)>),
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        query: None,
        body: None,
        response: ("", None),
    }
}

fn operations() -> Vec<Op> {
    use store::contacts::{ContactRow, HistoryRow};
    use store::conversations::{ConversationRow, MessageRow};
    use store::requests::{ChangeRow, RequestRow};
    use store::tokens::TokenRow;
    use store::websites::WebsiteRow;
    let action = "the new state with `event_id` once the projector applied it (200/201); 202 `{event_id, status: accepted}` when it has not yet within ADMIN_WAIT_MS; 503 with Retry-After when the broker did not acknowledge";
    vec![
        Op {
            query: Some(root::<conversations::ListParams>),
            response: (
                "`{conversations, count, total, total_capped, next_cursor, as_of}` (`total` is exact up to 10,000; past that it is 10,000 and `total_capped` is true)",
                Some(("conversations[]", schema::<ConversationRow>)),
            ),
            ..op(
                "get",
                "/v1/conversations",
                "conversations",
                "Conversations, filtered, sorted, a page at a time (keyset cursor)",
            )
        },
        Op {
            query: Some(root::<conversations::DetailParams>),
            response: (
                "`{conversation, messages, actions: [{event_id, type, occurred_at, actor, actor_name}], as_of}`: `actions` are the admin actions taken on it and the token that took each",
                Some(("messages[]", schema::<MessageRow>)),
            ),
            ..op(
                "get",
                "/v1/conversations/{id}",
                "conversations",
                "One conversation with its messages",
            )
        },
        Op {
            query: Some(root::<conversations::ActionParams>),
            response: (action, Some(("conversation", schema::<ConversationRow>))),
            ..op(
                "post",
                "/v1/conversations/{id}/close",
                "conversations",
                "Close a conversation (conversation.closed, reason admin)",
            )
        },
        Op {
            query: Some(root::<conversations::ActionParams>),
            response: (action, Some(("message", schema::<MessageRow>))),
            ..op(
                "post",
                "/v1/messages/{id}/flag",
                "conversations",
                "Flag a message for a human (by event id or message_id)",
            )
        },
        Op {
            query: Some(root::<conversations::ActionParams>),
            response: (action, Some(("message", schema::<MessageRow>))),
            ..op(
                "post",
                "/v1/messages/{id}/human-replied",
                "conversations",
                "Mark that a human replied to a message",
            )
        },
        Op {
            query: Some(root::<contacts::ListParams>),
            response: (
                "`{contacts, total, total_capped, page, as_of}` (`total` is exact up to 10,000; past that it is 10,000 and `total_capped` is true)",
                Some(("contacts[]", schema::<ContactRow>)),
            ),
            ..op(
                "get",
                "/v1/contacts",
                "contacts",
                "Contacts: search, filters, sort, pages with a total",
            )
        },
        Op {
            query: Some(root::<contacts::OneParams>),
            response: (
                "`{contact, conversations, requests, actions, as_of}`: `actions` are the admin actions taken on the contact (edits, merges into it) and the token that took each",
                Some(("conversations[]", schema::<HistoryRow>)),
            ),
            ..op(
                "get",
                "/v1/contacts/{id}",
                "contacts",
                "One contact with its conversation history and requests (a merged-away id finds the survivor)",
            )
        },
        Op {
            query: Some(root::<contacts::OneParams>),
            body: Some(root::<contacts::Edit>),
            response: (action, Some(("contact", schema::<ContactRow>))),
            ..op(
                "patch",
                "/v1/contacts/{id}",
                "contacts",
                "Edit a contact (contact.updated)",
            )
        },
        Op {
            query: Some(root::<contacts::OneParams>),
            response: (action, Some(("contact", schema::<ContactRow>))),
            ..op(
                "delete",
                "/v1/contacts/{id}",
                "contacts",
                "Erase a contact's personal data from every read model (contact.erased)",
            )
        },
        Op {
            body: Some(root::<contacts::Merge>),
            response: (action, Some(("contact", schema::<ContactRow>))),
            ..op(
                "post",
                "/v1/contacts/merge",
                "contacts",
                "Merge contacts into a surviving one (contacts.merged)",
            )
        },
        Op {
            query: Some(root::<requests::ListParams>),
            response: (
                "`{requests, total, page, as_of}`",
                Some(("requests[]", schema::<RequestRow>)),
            ),
            ..op(
                "get",
                "/v1/contact-requests",
                "contact requests",
                "Contact requests by website and status, newest first",
            )
        },
        Op {
            query: Some(root::<requests::OneParams>),
            response: (
                "`{request, changes, as_of}`",
                Some(("changes[]", schema::<ChangeRow>)),
            ),
            ..op(
                "get",
                "/v1/contact-requests/{id}",
                "contact requests",
                "One request with every status change and its outcome",
            )
        },
        Op {
            query: Some(root::<requests::OneParams>),
            body: Some(root::<requests::StatusBody>),
            response: (
                "as for every action; 409 for an illegal move or a stale expected_status",
                Some(("request", schema::<RequestRow>)),
            ),
            ..op(
                "patch",
                "/v1/contact-requests/{id}",
                "contact requests",
                "Move a request to another status (contact_request.status_changed)",
            )
        },
        Op {
            query: Some(root::<stats::StatsParams>),
            response: (
                "`{current, previous, change, time_zone, interval, series, as_of}`: `current` and `previous` are periods; `change` the relative change of each figure; `series` a period's figures per local `day` or `hour`",
                Some(("current", schema::<stats::Period>)),
            ),
            ..op(
                "get",
                "/v1/stats",
                "statistics",
                "Statistics of a date range, the previous period, and a daily or hourly series",
            )
        },
        Op {
            query: Some(root::<stats::FunnelParams>),
            response: (
                "`{from, to, time_zone, stages: {started, loaded, engaged, loaded_engaged, engaged_without_load, cta_clicked, contact_submitted}, rates, open, by_page, interval, series, as_of}`: stages are the populations of `GET /v1/conversations?population=`, and `open` lists each",
                None,
            ),
            ..op(
                "get",
                "/v1/stats/funnel",
                "statistics",
                "Conversations reaching each stage of the funnel, per page and per hour or day",
            )
        },
        Op {
            query: Some(root::<stats::BreakdownParams>),
            response: (
                "`{from, to, time_zone, by_channel: [{key, conversations, messages, open}], by_device: […], as_of}`: engaged conversations started in the range",
                None,
            ),
            ..op(
                "get",
                "/v1/stats/breakdown",
                "statistics",
                "Engaged conversations started in a range by channel and by device",
            )
        },
        Op {
            query: Some(root::<conversations::ListParams>),
            response: (
                "a file: CSV (RFC 4180, formula cells neutralised), JSON or NDJSON; `format=csv|json|ndjson`; the filters of the matching list (`events`: website_id, type, from, to)",
                None,
            ),
            ..op(
                "get",
                "/v1/exports/{kind}",
                "exports",
                "Export conversations, messages, contacts or events, streamed",
            )
        },
        Op {
            response: (
                "`{websites, as_of}`",
                Some(("websites[]", schema::<WebsiteRow>)),
            ),
            ..op(
                "get",
                "/v1/websites",
                "websites",
                "The websites the token sees",
            )
        },
        Op {
            body: Some(root::<websites::NewWebsite>),
            response: (action, Some(("website", schema::<WebsiteRow>))),
            ..op(
                "post",
                "/v1/websites",
                "websites",
                "Create a website and its write key (website.created); bootstrap token only",
            )
        },
        Op {
            response: (
                "`{website_id, anonymize_ip, changed_at, as_of}`; `anonymize_ip` is null until set",
                None,
            ),
            ..op(
                "get",
                "/v1/websites/{id}/privacy",
                "websites",
                "A website's privacy settings",
            )
        },
        Op {
            body: Some(root::<websites::PrivacySettings>),
            response: (action, None),
            ..op(
                "put",
                "/v1/websites/{id}/privacy",
                "websites",
                "Set a website's privacy settings (website.privacy_changed); ingest applies them before events reach the topic",
            )
        },
        Op {
            response: (
                "`{website_id, recipients, time_zone, weekday, hour, changed_at, as_of}`",
                None,
            ),
            ..op(
                "get",
                "/v1/websites/{id}/reports",
                "reports",
                "Who receives a website's weekly report, and when",
            )
        },
        Op {
            body: Some(root::<websites::ReportSettings>),
            response: (action, None),
            ..op(
                "put",
                "/v1/websites/{id}/reports",
                "reports",
                "Set a website's weekly report recipients and schedule (website.reports_changed)",
            )
        },
        Op {
            response: ("`{website_id, time_zone, changed_at, as_of}`", None),
            ..op(
                "get",
                "/v1/websites/{id}/time_zone",
                "websites",
                "The time zone a website's days are counted in (UTC until set)",
            )
        },
        Op {
            body: Some(root::<websites::TimeZoneSetting>),
            response: (action, None),
            ..op(
                "put",
                "/v1/websites/{id}/time_zone",
                "websites",
                "Set the time zone of a website's days: statistics, series and date filters (website.time_zone_changed)",
            )
        },
        Op {
            query: Some(root::<reports::WeeklyParams>),
            response: (
                "`{status: \"report_sent\", reports: [{website_id, from, to, status: sent|already_sent, …}]}`; 400 for a week not over or older than the website's retention, 409 when no website has recipients, 503 (retryable) when the mail server refused or a rebuild runs",
                None,
            ),
            ..op(
                "post",
                "/reports/weekly",
                "reports",
                "Send the last whole week's reports now (or the week of `week`), at most once per website and week",
            )
        },
        Op {
            query: Some(root::<subjects::SubjectParams>),
            response: (
                "`{subject, contacts, submissions, edits, contact_requests, conversations, messages, cta_clicks, events, as_of}`: every row held about the person, whole",
                None,
            ),
            ..op(
                "get",
                "/v1/subjects/export",
                "contacts",
                "Everything held about one person (data-subject access request), by email, phone or customer_id",
            )
        },
        Op {
            body: Some(root::<subjects::ErasureRequest>),
            response: (
                "`{erased: [{website_id, contact_id, event_id, status}]}`: one `contact.erased` per contact the address belongs to",
                None,
            ),
            ..op(
                "post",
                "/v1/subjects/erase",
                "contacts",
                "Erasure request by email or phone: erase every contact the address belongs to",
            )
        },
        Op {
            body: Some(root::<tokens::NewToken>),
            response: (
                "201 `{token, id, websites, name, expires_at, may_mint}`: the token is shown once; 403 when this token may not create tokens",
                None,
            ),
            ..op(
                "post",
                "/v1/tokens",
                "tokens",
                "Create a token limited to some websites (token.created)",
            )
        },
        Op {
            response: ("`{tokens}`", Some(("tokens[]", schema::<TokenRow>))),
            ..op(
                "get",
                "/v1/tokens",
                "tokens",
                "The tokens whose websites this token sees, revoked and expired ones included; never the tokens themselves",
            )
        },
        Op {
            response: ("`{token}`", Some(("token", schema::<TokenRow>))),
            ..op(
                "get",
                "/v1/tokens/{id}",
                "tokens",
                "One token, by id (its digest)",
            )
        },
        Op {
            response: (action, Some(("token", schema::<TokenRow>))),
            ..op(
                "delete",
                "/v1/tokens/{id}",
                "tokens",
                "Revoke a token (token.revoked): refused everywhere once applied. A token that may not create tokens may revoke only itself",
            )
        },
        Op {
            query: Some(root::<legacy::LimitParams>),
            response: ("`{success, conversations, count}`", None),
            ..op(
                "get",
                "/admin/conversations",
                "legacy",
                "Active conversations",
            )
        },
        Op {
            query: Some(root::<legacy::MessageLimitParams>),
            response: ("`{success, conversation, messages}`", None),
            ..op(
                "get",
                "/admin/conversations/{id}",
                "legacy",
                "One conversation and its messages",
            )
        },
        Op {
            query: Some(root::<legacy::MessageLimitParams>),
            response: ("`{success, messages, count}`", None),
            ..op(
                "get",
                "/admin/conversations/{id}/messages",
                "legacy",
                "A conversation's messages",
            )
        },
        Op {
            query: Some(root::<legacy::WebsiteParams>),
            response: ("`{success, conversation, event_id}`", None),
            ..op(
                "post",
                "/admin/conversations/{id}/close",
                "legacy",
                "Close a conversation",
            )
        },
        Op {
            query: Some(root::<legacy::WebsiteParams>),
            response: ("`{success, message, event_id}`", None),
            ..op(
                "post",
                "/admin/messages/{id}/mark-human",
                "legacy",
                "Flag a message for a human",
            )
        },
        Op {
            query: Some(root::<legacy::WebsiteParams>),
            response: ("`{success, message, event_id}`", None),
            ..op(
                "post",
                "/admin/messages/{id}/mark-replied",
                "legacy",
                "Mark that a human replied",
            )
        },
        Op {
            query: Some(root::<legacy::WebsiteParams>),
            response: (
                "`{success, stats: {total_conversations, active_conversations, total_messages, messages_requiring_human, timestamp}}`",
                None,
            ),
            ..op("get", "/admin/stats", "legacy", "Conversation totals")
        },
        Op {
            query: Some(root::<legacy::RequestParams>),
            response: (
                "a JSON array of `{id, name, email, phone, message, chat_context, ip_address, user_agent, status, notes, created_at}`",
                None,
            ),
            ..op("get", "/api/contact/requests", "legacy", "Contact requests")
        },
        Op {
            query: Some(root::<legacy::WebsiteParams>),
            body: Some(root::<legacy::LegacyStatus>),
            response: ("`{success, id, status, notes, event_id}`", None),
            ..op(
                "patch",
                "/api/contact/request/{id}/status",
                "legacy",
                "Move a contact request",
            )
        },
        Op {
            query: Some(root::<legacy::RangeParams>),
            response: (
                "`{total_messages, unique_users, cta_clicks, …every /v1/stats figure}`",
                None,
            ),
            ..op(
                "get",
                "/analytics/summary",
                "legacy",
                "Analytics of a date range",
            )
        },
        Op {
            query: Some(root::<legacy::RangeParams>),
            response: (
                "CSV: `event_id,user_id,session_id,event_type,timestamp,message`",
                None,
            ),
            ..op("get", "/analytics/export", "legacy", "Raw events as CSV")
        },
        Op {
            query: Some(root::<legacy::ContactsParams>),
            response: (
                "`{contacts: [{id, name, email, phone, channel, created_at}], total, page}`",
                None,
            ),
            ..op(
                "get",
                "/api/v1/contacts",
                "legacy",
                "Contacts, a page at a time",
            )
        },
        Op {
            query: Some(root::<exports::EventParams>),
            response: ("", None),
            ..op(
                "get",
                "/v1/exports/events",
                "exports",
                "Raw events export (`format=csv|json|ndjson`)",
            )
        },
    ]
}

/// The object schema of a query struct as OpenAPI query parameters.
fn parameters(query: &Schema, path: &str) -> Vec<Value> {
    let mut out: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let value = query.as_value();
    let required: Vec<&str> = value
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = value.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let mut prop = prop.clone();
            let description = prop
                .as_object_mut()
                .and_then(|p| p.remove("description"))
                .unwrap_or(Value::Null);
            let mut parameter = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "description": description,
                "schema": prop,
            });
            // What each population holds, from its one definition: the dashboard reads them.
            if name == "population" {
                parameter["x-definitions"] = Population::ALL
                    .iter()
                    .map(|p| (p.name().to_owned(), json!(p.definition())))
                    .collect::<Map<String, Value>>()
                    .into();
            }
            out.push(parameter);
        }
    }
    out
}

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let mut paths: Map<String, Value> = Map::new();
    for op in operations() {
        let mut operation = json!({
            "tags": [op.tag],
            "summary": op.summary,
            "security": [{"bearer": []}],
        });
        let params = match op.query {
            Some(f) => parameters(&f(&mut g), op.path),
            None => parameters(&Schema::default(), op.path),
        };
        operation["parameters"] = json!(params);
        if let Some(body) = op.body {
            let mut body = body(&mut g).to_value();
            if let Some(b) = body.as_object_mut() {
                b.remove("$schema");
            }
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": body}},
            });
        }
        let (description, rows) = op.response;
        let mut ok =
            json!({"description": if description.is_empty() { "OK" } else { description }});
        if let Some((key, rows)) = rows {
            let row = rows(&mut g).to_value();
            let (name, member) = match key.strip_suffix("[]") {
                Some(name) => (name, json!({"type": "array", "items": row})),
                None => (key, json!({"nullable": true, "allOf": [row]})),
            };
            // The other members of the envelope are in the description.
            ok["content"] = json!({"application/json": {"schema": {
                "type": "object",
                "properties": {name: member},
                "required": [name],
            }}});
        }
        let mut responses = json!({
            "400": {"description": "a malformed parameter or body, named in `message`"},
            "401": {"description": "missing or unknown token"},
            "403": {"description": "the token may not do this (e.g. only the bootstrap token creates websites)"},
            "404": {"description": "not found, or outside the token's websites"},
            "503": {
                "description": "Postgres or the broker did not answer; nothing was done",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            },
        });
        if op.method == "get" {
            responses["200"] = ok;
        } else {
            // An action answers once the projector applied its event, 201 when it created
            // something, or 202 when the event is stored but not yet applied.
            responses["200"] = ok.clone();
            responses["201"] = ok;
            responses["202"] = json!({
                "description": "the event is stored and will be applied; `{event_id, status: accepted}`",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "event_id": {"type": "string", "format": "uuid"},
                        "status": {"type": "string", "enum": ["accepted"]},
                    },
                    "required": ["event_id", "status"],
                }}},
            });
            responses["409"] =
                json!({"description": "conflicts with the current state, named in `message`"});
        }
        if op.path == "/reports/weekly" {
            responses["501"] =
                json!({"description": "no SMTP server is configured (`EMAIL_HOST`)"});
            responses["429"] = json!({
                "description": "the website was sent REPORT_SENDS_PER_DAY reports in the last 24 hours",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            });
        }
        if op.path == "/v1/exports/{kind}" {
            responses["429"] = json!({
                "description": "the token runs its EXPORTS_PER_TOKEN exports already",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            });
            responses["503"]["description"] =
                json!("Postgres did not answer, or the server runs EXPORTS_MAX exports already");
        }
        operation["responses"] = responses;
        paths
            .entry(op.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|p| p.insert(op.method.to_owned(), operation));
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Colloquy query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Admin views, statistics, exports and admin actions over the Colloquy read models. Every read answers with `as_of`, the projector position it reflects; every action is an event.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

pub async fn openapi_json() -> Json<Value> {
    Json(document())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What `/docs` may load: its inline style and nothing else; no script, no frames.
const DOCS_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A page listing every operation with its parameters, from the same document.
pub async fn docs() -> impl IntoResponse {
    let doc = document();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>Colloquy query API</title>\
         <style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
         code{background:#f3f3f3;padding:0 .2em}h2{margin-top:2rem;border-bottom:1px solid #ddd}\
         td{vertical-align:top;padding:.1rem .6rem}</style></head><body>\
         <h1>Colloquy query API</h1><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a>. \
         Every route needs <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
    );
    if let Some(paths) = doc["paths"].as_object() {
        for (path, methods) in paths {
            for (method, op) in methods.as_object().into_iter().flatten() {
                html.push_str(&format!(
                    "<h2><code>{} {}</code></h2><p>{}</p>",
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
                html.push_str(&format!(
                    "<p>Answer: {}</p>",
                    escape(
                        op["responses"]["200"]["description"]
                            .as_str()
                            .unwrap_or_default()
                    )
                ));
            }
        }
    }
    html.push_str("</body></html>");
    ([(header::CONTENT_SECURITY_POLICY, DOCS_POLICY)], Html(html))
}
