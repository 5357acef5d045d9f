//! The live feed behind `GET /v1/stream`: one `LISTEN` connection per process on the channel
//! the projector announces committed batches on ([`schemas::live`]), fanned out to every open
//! stream, each filtered by its token's websites.

use std::sync::Arc;
use std::time::Duration;

use schemas::live::{CHANNEL, Change};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};

/// What a stream passes on.
#[derive(Debug, Clone)]
pub enum Notice {
    Change(Change),
    /// Changes may have been missed (the listening connection was lost, or this stream fell
    /// behind): a dashboard reloads what it shows.
    Resync,
}

/// The fan-out: every open stream subscribes.
#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<Arc<Notice>>,
    /// Whether the listening connection is up: a stream opened before it would miss changes.
    listening: Arc<watch::Sender<bool>>,
}

/// How many notices a slow stream may fall behind before it is told to resync.
const BACKLOG: usize = 4_096;

impl Default for Feed {
    /// A feed nothing announces on until [`Feed::listen`].
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
            listening: Arc::new(watch::channel(false).0),
        }
    }
}

impl Feed {
    /// A feed fed by Postgres notifications for as long as the process runs.
    pub fn listen(pool: PgPool) -> Self {
        let feed = Self::default();
        // Its own connection: a listener holds it for good, and the reads need the pool's.
        tokio::spawn(feed.clone().relay(runtime::wakeup::listening_pool(&pool)));
        feed
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.sender.subscribe()
    }

    /// Waits until the feed listens to Postgres (at once when it does).
    pub async fn listening(&self) {
        let mut listening = self.listening.subscribe();
        // The sender lives as long as `self`.
        let _ = listening.wait_for(|up| *up).await;
    }

    pub fn publish(&self, notice: Notice) {
        // No stream open is not an error.
        let _ = self.sender.send(Arc::new(notice));
    }

    async fn relay(self, pool: PgPool) {
        // Set once a listening connection was lost: what was announced meanwhile is missed.
        let mut lost = false;
        let mut attempt = 0u32;
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    attempt += 1;
                    tracing::warn!(%error, attempt, "cannot listen for live changes yet");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(25))))
                        .await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(CHANNEL).await {
                tracing::warn!(%error, "cannot listen for live changes yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            attempt = 0;
            self.listening.send_replace(true);
            if std::mem::take(&mut lost) {
                self.publish(Notice::Resync);
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        match serde_json::from_str::<Vec<Change>>(notification.payload()) {
                            Ok(changes) => {
                                for change in changes {
                                    self.publish(Notice::Change(change));
                                }
                            }
                            Err(error) => tracing::warn!(%error, "unreadable live change"),
                        }
                    }
                    // The connection was lost; the next call reconnects and listens again.
                    Ok(None) => self.publish(Notice::Resync),
                    Err(error) => {
                        tracing::warn!(%error, "lost the live changes connection");
                        lost = true;
                        self.listening.send_replace(false);
                        break;
                    }
                }
            }
        }
    }
}
