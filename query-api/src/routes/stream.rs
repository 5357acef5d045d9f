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
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::{Admin, Scope};
use crate::error::ApiError;
use crate::live::Notice;

/// Each stream holds a slot of [`AppState::streams`] (the token's and the server's limits)
/// until its client goes.
pub async fn stream(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let pass = state.streams.enter(&admin.token)?;
    let notices = state.live.subscribe();
    // `ready` once nothing committed from now on can be missed.
    let opening = futures::stream::once(async move {
        state.live.listening().await;
        Ok(Event::default().event("ready").data("{}"))
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
    Ok(Sse::new(futures::StreamExt::chain(opening, changes)).keep_alive(KeepAlive::default()))
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
