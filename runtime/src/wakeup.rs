//! Waking what waits, instead of polling: Postgres `LISTEN`/`NOTIFY` between the processes.
//!
//! An idle stack should cost nothing (docs/operations.md, "An idle stack"): the projector stops
//! fetching partitions that have been quiet, the webhook dispatcher and the schema watches stop
//! asking Postgres every few hundred milliseconds. Each instead waits for a notification on one
//! of the [channels](PRODUCED), with a slow poll behind it for what nobody announces (a producer
//! outside Colloquy, a notification lost with its connection).
//!
//! - [`Announcer`]: ingest and query-api say that a partition received records after a quiet
//!   spell, so a projector that paused it resumes.
//! - [`Signals`]: a `LISTEN` connection, a [`Wake`] per channel it listens on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

/// Records reached a partition after it was quiet for [`QUIET`] (payload: the partitions, as a
/// JSON array). Sent by producers, heard by the projector.
pub const PRODUCED: &str = "colloquy_produced";
/// A rebuild asked the live projector to pause or release, or another read-model version went
/// live. Heard by the projector, query-api and ingest.
pub const CONTROL: &str = "colloquy_control";
/// Webhook deliveries were queued or their endpoints changed. Heard by query-api's dispatcher.
pub const WEBHOOKS: &str = "colloquy_webhooks";
/// A website was created or its privacy settings changed. Sent by the projector when the batch
/// commits, heard by ingest, which then reloads the write keys and privacy settings.
pub const WEBSITES: &str = "colloquy_websites";

/// A partition that received nothing from this process for this long is announced when it
/// does again. The projector pauses a partition only after twice this without records
/// (`PROJECTOR_IDLE_PAUSE_MS` must be at least that), so a partition is either announced or
/// still being fetched when records arrive: the previous record of the partition, less than
/// `QUIET` earlier, kept it fetching for longer than that.
pub const QUIET: Duration = Duration::from_secs(1);

/// The producer's side: notes when each partition last received records from this process, and
/// announces the ones that had been quiet.
pub struct Announcer {
    pool: PgPool,
    last: Mutex<HashMap<i32, Instant>>,
}

impl Announcer {
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            last: Mutex::new(HashMap::new()),
        })
    }

    /// Records were acknowledged on `partitions` now. Announcing never delays the caller, and a
    /// failed announcement is only late: the projector's idle poll finds the records.
    pub fn delivered(&self, partitions: impl IntoIterator<Item = i32>) {
        let now = Instant::now();
        let quiet: Vec<i32> = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let mut quiet: Vec<i32> = partitions
                .into_iter()
                .filter(|p| {
                    last.insert(*p, now)
                        .is_none_or(|before| now.duration_since(before) >= QUIET)
                })
                .collect();
            quiet.sort_unstable();
            quiet.dedup();
            quiet
        };
        if quiet.is_empty() {
            return;
        }
        let pool = self.pool.clone();
        let payload = serde_json::to_string(&quiet).unwrap_or_default();
        tokio::spawn(async move {
            if let Err(error) = notify(&pool, PRODUCED, &payload).await {
                tracing::debug!(%error, "cannot announce produced records; the projector's idle poll finds them");
            }
        });
    }
}

/// Sends `payload` on `channel`: at once on a pool, or when the transaction `db` is in commits.
pub async fn notify(
    db: impl sqlx::PgExecutor<'_>,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(db)
        .await?;
    Ok(())
}

/// A pool of one connection with `pool`'s settings, for a `PgListener`: a listener holds its
/// connection for good, which would leave `pool` one short for its queries.
pub fn listening_pool(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(PgConnectOptions::clone(&pool.connect_options()))
}

/// One channel's notifications, as a counter that moves: a waiter remembers what it has seen
/// ([`Wake::seen`]) and [`Wake::wait`]s for more. Every channel moves when the listening
/// connection is (re)established, since notifications may have been missed meanwhile.
#[derive(Clone)]
pub struct Wake {
    heard: watch::Receiver<u64>,
}

impl Wake {
    /// A wake nothing ever moves (no database).
    pub fn never() -> Self {
        static NEVER: std::sync::OnceLock<watch::Sender<u64>> = std::sync::OnceLock::new();
        Self {
            heard: NEVER.get_or_init(|| watch::channel(0).0).subscribe(),
        }
    }

    /// Marks everything heard so far as seen.
    pub fn seen(&mut self) {
        self.heard.mark_unchanged();
    }

    /// Whether something was heard since [`Wake::seen`].
    pub fn heard(&self) -> bool {
        self.heard.has_changed().unwrap_or(false)
    }

    /// Waits until something is heard that was not seen, or `limit` passes (answers `false`).
    pub async fn wait(&mut self, limit: Duration) -> bool {
        let heard = tokio::select! {
            changed = self.heard.changed() => changed.is_ok(),
            () = tokio::time::sleep(limit) => false,
        };
        if !heard && self.heard.has_changed().is_err() {
            // Closed: never sent on again. Behave as a plain sleep rather than spin.
            return false;
        }
        heard
    }
}

/// A process's `LISTEN` connection and the [`Wake`] of each channel it listens on.
pub struct Signals {
    channels: HashMap<&'static str, watch::Sender<u64>>,
}

impl Signals {
    /// Listens on `channels` for as long as the runtime runs, reconnecting when the connection
    /// is lost, on a connection of its own ([`listening_pool`]).
    pub fn listen(pool: &PgPool, channels: &[&'static str]) -> Arc<Self> {
        let own = listening_pool(pool);
        let signals = Arc::new(Self {
            channels: channels.iter().map(|c| (*c, watch::channel(0).0)).collect(),
        });
        tokio::spawn(signals.clone().relay(own));
        signals
    }

    /// `channel`'s wake; [`Wake::never`] moves if this process does not listen on it.
    pub fn wake(&self, channel: &str) -> Wake {
        self.channels
            .get(channel)
            .map_or_else(Wake::never, |sender| Wake {
                heard: sender.subscribe(),
            })
    }

    fn move_all(&self) {
        for sender in self.channels.values() {
            sender.send_modify(|n| *n += 1);
        }
    }

    async fn relay(self: Arc<Self>, pool: PgPool) {
        let channels: Vec<&str> = self.channels.keys().copied().collect();
        let mut attempt = 0u32;
        loop {
            let listening = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen_all(channels.iter().copied()).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = match listening.await {
                Ok(listener) => listener,
                Err(error) => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "cannot listen for wake-ups yet; polling");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(25))))
                        .await;
                    continue;
                }
            };
            attempt = 0;
            // Whatever was sent while nobody listened is not coming: look now.
            self.move_all();
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        if let Some(sender) = self.channels.get(notification.channel()) {
                            sender.send_modify(|n| *n += 1);
                        }
                    }
                    // Lost and reconnected by the listener: notifications may be missed.
                    Ok(None) => self.move_all(),
                    Err(error) => {
                        tracing::debug!(%error, "lost the wake-up connection");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_moves_once_per_notification_and_remembers_what_was_seen() {
        let (sender, receiver) = watch::channel(0u64);
        let mut wake = Wake { heard: receiver };
        assert!(!wake.heard());
        assert!(!wake.wait(Duration::from_millis(10)).await);
        sender.send_modify(|n| *n += 1);
        assert!(wake.heard());
        assert!(wake.wait(Duration::from_secs(60)).await);
        assert!(!wake.heard());
        sender.send_modify(|n| *n += 1);
        wake.seen();
        assert!(!wake.heard());
    }

    #[tokio::test]
    async fn a_wake_that_never_moves_waits_out_its_limit() {
        let mut wake = Wake::never();
        assert!(!wake.wait(Duration::from_millis(10)).await);
    }
}
