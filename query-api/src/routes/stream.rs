//! `GET /v1/stream`: server-sent events of what the projector applies, as it commits: new
//! conversations, messages, contact requests and status changes, only of the token's
//! websites. Each event is named by its type and carries ids ([`schemas::live::Change`]); a
//! dashboard reads the rest through the API. `ready` comes first, once every change committed
//! after it will be sent; `resync` says changes may have been missed, so whatever the
//! dashboard shows should be read again.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use runtime::documented::{Answer, response};
use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::{Admin, Scope};
use crate::error::ApiError;
use crate::live::Notice;

/// The stream of server-sent events.
pub struct Changes(Response);

impl IntoResponse for Changes {
    fn into_response(self) -> Response {
        self.0
    }
}

impl Answer for Changes {
    fn responses(_: &mut SchemaGenerator) -> Map<String, Value> {
        let mut out = response(
            "200",
            "server-sent events: `ready` first, then one event per change named by its type \
             (data: `{event_id, type, website_id, conversation_id, …}`), `resync` when changes \
             may have been missed",
            Some(json!({ "text/event-stream": { "schema": { "type": "string" } } })),
        );
        let retry = json!({ "Retry-After": { "schema": { "type": "integer", "minimum": 1 } } });
        out.insert(
            "429".into(),
            json!({"description": "the token has STREAMS_PER_TOKEN streams open", "headers": retry}),
        );
        out.insert(
            "503".into(),
            json!({"description": "the server has STREAMS_MAX streams open", "headers": retry}),
        );
        out
    }
}

/// Each stream holds a slot of [`AppState::streams`] (the token's and the server's limits)
/// until its client goes.
pub async fn stream(State(state): State<AppState>, admin: Admin) -> Result<Changes, ApiError> {
    let pass = state.streams.enter(&admin.token)?;
    let notices = state.live.subscribe();
    // `ready` once nothing committed from now on can be missed.
    let opening = futures::stream::once(async move {
        state.live.listening().await;
        Ok::<_, Infallible>(Event::default().event("ready").data("{}"))
    });
    let changes = futures::stream::unfold(
        (notices, admin.scope, pass),
        |(mut notices, scope, pass)| async move {
            loop {
                let event = match notices.recv().await {
                    Ok(notice) => match event_for(&notice, &scope) {
                        Some(event) => event,
                        None => continue,
                    },
                    Err(RecvError::Lagged(_)) => resync(),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (notices, scope, pass)));
            }
        },
    );
    let events = futures::StreamExt::chain(opening, changes);
    let sse = Sse::new(events).keep_alive(KeepAlive::default());
    Ok(Changes(sse.into_response()))
}

/// The event a stream with `scope` sends for `notice`, if any.
fn event_for(notice: &Arc<Notice>, scope: &Scope) -> Option<Event> {
    match &**notice {
        Notice::Change(change) if scope.allows(&change.website_id) => Some(
            Event::default()
                .event(&change.event_type)
                .id(change.event_id.to_string())
                .json_data(change)
                .expect("a change serialises"),
        ),
        Notice::Change(_) => None,
        Notice::Resync => Some(resync()),
    }
}

fn resync() -> Event {
    Event::default().event("resync").data("{}")
}
