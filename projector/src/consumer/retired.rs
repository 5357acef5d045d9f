//! Dropping retired read-model versions, beside the controller.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use schemas::Event;
use sqlx::PgPool;

use crate::versions;

/// How often retired versions are looked at for dropping.
const RETIRED_CHECK: Duration = Duration::from_secs(60);

/// The controller's dropping of retired versions ([`versions::drop_retired`]): once every
/// [`RETIRED_CHECK`] those kept longer than `keep`, and every one as soon as a worker applied
/// an erasure. One drop at a time, beside the controller, so a drop waiting for a lock never
/// holds up a switch or a pause.
pub(super) struct RetiredVersions {
    keep: Duration,
    dropping: Option<tokio::task::JoinHandle<()>>,
    next_check: Instant,
}

impl RetiredVersions {
    pub(super) fn new(keep: Duration) -> Self {
        Self {
            keep,
            dropping: None,
            next_check: Instant::now(),
        }
    }

    /// Starts a drop if one is due and none runs; `erased` is the workers' flag.
    pub(super) fn tick(&mut self, meta: &PgPool, erased: &Arc<AtomicBool>) {
        if !self.dropping.as_ref().is_none_or(|d| d.is_finished()) {
            return;
        }
        let after_erasure = erased.swap(false, Ordering::AcqRel);
        if !after_erasure && Instant::now() < self.next_check {
            return;
        }
        self.next_check = Instant::now() + RETIRED_CHECK;
        let kept = (!after_erasure).then_some(self.keep);
        let (meta, erased) = (meta.clone(), erased.clone());
        self.dropping = Some(tokio::spawn(async move {
            match versions::drop_retired(&meta, kept).await {
                Ok(dropped) if dropped.is_empty() => {}
                Ok(dropped) => tracing::info!(
                    ?dropped,
                    after_erasure,
                    "dropped retired read-model versions"
                ),
                Err(error) => {
                    tracing::warn!(%error, "cannot drop retired versions; retrying");
                    // An erasure's drop is owed until it succeeds.
                    if after_erasure {
                        erased.store(true, Ordering::Release);
                    }
                }
            }
        }));
    }
}

/// Whether `event` removes personal data from the read models.
pub(super) fn erases(event: &Event) -> bool {
    use schemas::Payload;
    matches!(
        event.payload,
        Payload::ContactErased(_) | Payload::CustomerErased(_) | Payload::RetentionApplied(_)
    )
}
