//! The retention job: once per `RETENTION_INTERVAL_S`, for every website, decide the day
//! before which raw IP addresses and message texts are no longer kept (its `retention_days`,
//! 90 by default) and, when that day moved, produce a `retention.applied` event. The projector
//! clears the data; because the decision is an event in the topic, a rebuild clears the same.
//!
//! Event ids are derived from the website and the cut-off, so several query-api instances
//! running the job produce the same event, which the projector applies once.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use schemas::Payload;
use schemas::payloads::RetentionApplied;
use uuid::Uuid;

use crate::AppState;
use crate::actions::{self, Outcome};
use crate::error::ApiError;
use crate::store;
use crate::store::websites::Retention;

/// The cut-offs due at `now`: the start (UTC) of the day `retention_days` before it, for each
/// website whose current cut-off is earlier. Whole days, so the job runs any number of times a
/// day and decides once.
pub fn due(now: DateTime<Utc>, websites: &[Retention]) -> Vec<(String, DateTime<Utc>)> {
    websites
        .iter()
        .filter_map(|w| {
            let days = u64::try_from(w.retention_days).ok()?;
            let day = now.date_naive().checked_sub_days(Days::new(days))?;
            let before = day.and_hms_opt(0, 0, 0)?.and_utc();
            w.before
                .is_none_or(|c| before > c)
                .then(|| (w.website_id.clone(), before))
        })
        .collect()
}

/// Namespace of retention event ids.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x2f6b_91c4_53ad_4e08_b7c2_6d19_e04a_7f35);

/// Produces the cut-offs due at `now` and returns them. Each is produced and applied before the
/// next (within `ADMIN_WAIT_MS`).
pub async fn run_once(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, ApiError> {
    let due = due(now, &store::websites::retention(&state.pool).await?);
    for (website, before) in &due {
        let mut event = actions::event(
            website,
            website,
            Payload::RetentionApplied(RetentionApplied {
                website_id: website.clone(),
                before: *before,
            }),
        );
        event.event_id = Uuid::new_v5(
            &EVENT_NAMESPACE,
            format!("{website}\u{0}{}", before.to_rfc3339()).as_bytes(),
        );
        if let Outcome::Pending(id) = actions::submit(state, "retention", event).await? {
            tracing::info!(%id, website, "retention event not applied yet");
        }
    }
    Ok(due)
}

/// Runs [`run_once`] every `interval` until the runtime stops.
pub fn spawn(state: AppState, interval: Duration) {
    tokio::spawn(async move {
        loop {
            let ran = run_once(&state, Utc::now()).await;
            state.metrics.job("retention", ran.is_ok());
            match ran {
                Ok(due) if !due.is_empty() => {
                    tracing::info!(websites = due.len(), "retention cut-offs moved");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention job failed; trying next time"),
            }
            tokio::time::sleep(interval).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn website(id: &str, retention_days: i32, before: Option<DateTime<Utc>>) -> Retention {
        Retention {
            website_id: id.to_owned(),
            retention_days,
            before,
        }
    }

    #[test]
    fn a_cut_off_is_the_start_of_the_day_retention_days_ago_and_only_moves_forward() {
        let now = at("2026-11-23T15:30:00Z");
        let websites = vec![
            website("new", 90, None),
            website("short", 7, Some(at("2026-11-01T00:00:00Z"))),
            website("done", 90, Some(at("2026-08-25T00:00:00Z"))),
        ];
        assert_eq!(
            due(now, &websites),
            vec![
                ("new".to_owned(), at("2026-08-25T00:00:00Z")),
                ("short".to_owned(), at("2026-11-16T00:00:00Z")),
            ]
        );
        // Later the same day: nothing new.
        let applied: Vec<Retention> = due(now, &websites)
            .into_iter()
            .map(|(w, b)| website(&w, 7, Some(b)))
            .collect();
        assert!(due(at("2026-11-23T23:59:00Z"), &applied[1..]).is_empty());
    }
}
