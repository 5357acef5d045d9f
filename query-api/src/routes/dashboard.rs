//! `GET /admin`: the admin dashboard, a page and its script and style, compiled into the
//! binary so it works offline and needs no set-up. It calls the same API as any client, with
//! the token the user logs in with (kept in the tab's session storage), and follows
//! `GET /v1/stream` for live updates.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use runtime::documented::{Answer, response};
use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};

const PAGE: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/app.css");

/// Only this origin's script and style, nothing inline, no frames: what a visitor typed cannot
/// run in an admin's browser even if it slipped past the script's text-only rendering.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// One of the dashboard's files, as the browser loads it.
pub struct File {
    content_type: &'static str,
    body: &'static str,
    /// The page's own policy; its script and style need none.
    policy: Option<&'static str>,
}

impl IntoResponse for File {
    fn into_response(self) -> Response {
        // Checked again on every load: they change with the binary.
        let headers = [
            (header::CONTENT_TYPE, self.content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ];
        match self.policy {
            Some(policy) => (
                [(header::CONTENT_SECURITY_POLICY, policy)],
                headers,
                self.body,
            )
                .into_response(),
            None => (headers, self.body).into_response(),
        }
    }
}

impl Answer for File {
    fn responses(_: &mut SchemaGenerator) -> Map<String, Value> {
        let text = json!({ "schema": { "type": "string" } });
        response(
            "200",
            "the file",
            Some(json!({
                "text/html": text,
                "text/javascript": text,
                "text/css": text,
            })),
        )
    }
}

pub async fn page() -> File {
    File {
        content_type: "text/html; charset=utf-8",
        body: PAGE,
        policy: Some(POLICY),
    }
}

pub async fn script() -> File {
    File {
        content_type: "text/javascript; charset=utf-8",
        body: SCRIPT,
        policy: None,
    }
}

pub async fn style() -> File {
    File {
        content_type: "text/css; charset=utf-8",
        body: STYLE,
        policy: None,
    }
}
