//! Admin actions. They never write a read model: each is an event, produced to the topic like
//! any other (so a replay reproduces it), and then awaited in the projector's event log for a
//! bounded time so that the answer can show its effect (read-your-writes).

use std::time::Duration;

use runtime::kafka::Record;
use schemas::{Event, Payload};
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

/// How often the event log is polled while an action waits to be applied.
const POLL: Duration = Duration::from_millis(20);

/// What became of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The projector applied it; the read models show it.
    Applied(Uuid),
    /// The broker acknowledged it (it will be applied) but the projector has not yet.
    Pending(Uuid),
}

impl Outcome {
    pub fn event_id(self) -> Uuid {
        match self {
            Outcome::Applied(id) | Outcome::Pending(id) => id,
        }
    }
}

/// A new admin event for `website_id`, keyed by `subject` (the conversation or contact it is
/// about, so that events about one subject keep their order in one partition).
pub fn event(website_id: &str, subject: &str, payload: Payload) -> Event {
    let now = chrono::Utc::now();
    Event {
        event_id: Uuid::now_v7(),
        schema_version: payload.event_type().current_version(),
        website_id: website_id.to_owned(),
        conversation_id: subject.to_owned(),
        occurred_at: now,
        received_at: now,
        context: schemas::Context {
            channel: "admin".into(),
            ..schemas::Context::default()
        },
        payload,
    }
}

/// Produces `event`, as done by `actor` (the acting token's [`crate::auth::Admin::actor`], or a
/// job's name), and waits up to the configured time for the projector to apply it.
pub async fn submit(state: &AppState, actor: &str, mut event: Event) -> Result<Outcome, ApiError> {
    event.context.actor = Some(actor.to_owned());
    // What the projector would refuse never reaches the topic: the client learns at once.
    event
        .check()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Sealed like ingest's events: erasing the person makes their edits unreadable too.
    let value = state
        .subject_keys
        .seal(&[&event])
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot seal the event: {e}")))?
        .pop()
        .unwrap_or_default();
    let mut record = Record::new(event.conversation_id.clone(), value);
    let proof = state
        .admin_event_keys
        .sign(record.key.as_bytes(), &record.value);
    record.headers.push((schemas::topics::PROOF_HEADER, proof));
    let results = state.sink.send(vec![record]).await;
    for result in results {
        result.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    if wait_until_applied(&state.pool, event.event_id, state.admin_wait).await? {
        Ok(Outcome::Applied(event.event_id))
    } else {
        Ok(Outcome::Pending(event.event_id))
    }
}

async fn wait_until_applied(
    pool: &PgPool,
    event_id: Uuid,
    wait: Duration,
) -> Result<bool, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if crate::store::actions::applied(pool, event_id).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}
