//! `GET /admin`: the admin dashboard, a page and its script and style, compiled into the
//! binary so it works offline and needs no set-up. It calls the same API as any client, with
//! the token the user logs in with (kept in the tab's session storage), and follows
//! `GET /v1/stream` for live updates.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/app.css");

/// Only this origin's script and style, nothing inline, no frames: what a visitor typed cannot
/// run in an admin's browser even if it slipped past the script's text-only rendering.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, POLICY)],
        file("text/html; charset=utf-8", PAGE),
    )
}

pub async fn script() -> impl IntoResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> impl IntoResponse {
    file("text/css; charset=utf-8", STYLE)
}

/// One of the files, checked again on every load (they change with the binary).
fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
