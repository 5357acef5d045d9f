//! The proof that nothing acknowledged is lost or counted twice: a load generator that keeps a
//! ledger of every event it sent and what ingest answered, and a checker that compares the
//! ledger with the read models once the system has drained.
//!
//! The generator behaves like a well-made client: every batch carries its own event ids, and a
//! batch that was not acknowledged (503, 429, a reset connection, a timeout) is sent again with
//! the same ids until it is. So an event may reach the topic more than once, and the read
//! models must still hold it exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// What to send.
#[derive(Debug, Clone)]
pub struct Load {
    /// Ingest's base URL.
    pub url: String,
    pub write_key: String,
    /// At least this many events; more while the test has not said stop.
    pub events: usize,
    pub batch: usize,
    /// Concurrent senders.
    pub senders: usize,
    pub conversations: usize,
    /// How long one batch is retried before the sender gives up on it (a failure of the test).
    pub give_up_after: Duration,
    /// Counts the acknowledged events as they are, so a test can pace faults by progress.
    pub progress: Arc<AtomicUsize>,
    /// The longest a sender waits before retrying, whatever `Retry-After` says: short for
    /// clients that hammer an overloaded service.
    pub max_backoff: Duration,
}

impl Load {
    /// A steady load of `events` from two senders, in batches of 50 over 100 conversations,
    /// with the e2e website's key, counting acknowledged events in `progress`: what the fault
    /// tests pace their faults by.
    pub fn steady(url: &str, events: usize, progress: Arc<AtomicUsize>) -> Self {
        Self {
            url: url.to_owned(),
            write_key: crate::WRITE_KEY.into(),
            events,
            batch: 50,
            senders: 2,
            conversations: 100,
            give_up_after: Duration::from_secs(60),
            progress,
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// Every event sent and what became of it.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Every id sent at least once.
    pub sent: HashSet<Uuid>,
    /// Ids ingest acknowledged (a 200 listing them, or a 503 listing them as stored).
    pub acknowledged: HashSet<Uuid>,
    /// Ids sent more than once because an earlier attempt was not acknowledged.
    pub retried: HashSet<Uuid>,
    /// Ids never acknowledged within `give_up_after`.
    pub gave_up: HashSet<Uuid>,
    /// How many answers of each kind (`200`, `503`, `429`, `error`: no answer).
    pub answers: BTreeMap<String, u64>,
    /// Refusals (429, 503) that did not say when to retry.
    pub without_retry_after: u64,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.sent.extend(other.sent);
        self.acknowledged.extend(other.acknowledged);
        self.retried.extend(other.retried);
        self.gave_up.extend(other.gave_up);
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
        self.without_retry_after += other.without_retry_after;
    }
}

/// Sends `load` from `load.senders` tasks until at least `load.events` are acknowledged and
/// `stop` is set, and returns the ledger.
pub async fn send(load: Load, stop: Arc<AtomicBool>) -> Ledger {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let per_sender = load.events.div_ceil(load.senders);
    let tasks: Vec<_> = (0..load.senders)
        .map(|s| {
            let (load, http, stop) = (load.clone(), http.clone(), stop.clone());
            tokio::spawn(async move { sender(s, &load, &http, per_sender, &stop).await })
        })
        .collect();
    let mut ledger = Ledger::default();
    for task in tasks {
        ledger.merge(task.await.expect("sender task"));
    }
    ledger
}

async fn sender(
    index: usize,
    load: &Load,
    http: &reqwest::Client,
    events: usize,
    stop: &AtomicBool,
) -> Ledger {
    let mut ledger = Ledger::default();
    let mut n = 0usize;
    while n < events || !stop.load(Ordering::Relaxed) {
        let batch: Vec<(Uuid, Value)> = (0..load.batch)
            .map(|i| {
                let id = Uuid::new_v4();
                let conversation = format!("c{}-{}", index, (n + i) % load.conversations);
                let sender = if (n + i).is_multiple_of(2) {
                    "user"
                } else {
                    "bot"
                };
                let event = json!({"event_id": id, "type": "message.sent",
                    "conversation_id": conversation,
                    "payload": {"sender": sender, "text": format!("message {n}+{i}")}});
                (id, event)
            })
            .collect();
        n += batch.len();
        let body = json!({"batch": batch.iter().map(|(_, e)| e).collect::<Vec<_>>()});
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        ledger.sent.extend(&ids);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1 {
                ledger.retried.extend(&ids);
            }
            let answer = http
                .post(format!("{}/v1/events", load.url))
                .header("X-Write-Key", &load.write_key)
                .json(&body)
                .send()
                .await;
            let (kind, stored, done, retry_after) = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    let stored: Vec<Uuid> = body["event_ids"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
                        .unwrap_or_default();
                    assert!(
                        matches!(status, 200 | 429 | 503),
                        "ingest answered {status}: {body}"
                    );
                    if status != 200 && retry_after.is_none() {
                        ledger.without_retry_after += 1;
                    }
                    (status.to_string(), stored, status == 200, retry_after)
                }
                Err(_) => ("error".to_owned(), Vec::new(), false, None),
            };
            *ledger.answers.entry(kind).or_default() += 1;
            let before = ledger.acknowledged.len();
            ledger.acknowledged.extend(stored);
            load.progress
                .fetch_add(ledger.acknowledged.len() - before, Ordering::Relaxed);
            if done {
                break;
            }
            if started.elapsed() > load.give_up_after {
                ledger
                    .gave_up
                    .extend(ids.iter().filter(|id| !ledger.acknowledged.contains(id)));
                break;
            }
            // Back off as Retry-After says, growing with each attempt, up to `max_backoff`.
            let wait = Duration::from_secs(retry_after.unwrap_or(1))
                .min(Duration::from_millis(100) * attempt)
                .min(load.max_backoff);
            tokio::time::sleep(wait).await;
        }
    }
    ledger
}

/// What the read models hold of a ledger, after draining.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub acknowledged: usize,
    /// Acknowledged ids in the event log.
    pub projected: usize,
    /// Acknowledged ids missing from the event log.
    pub lost: usize,
    /// Rows beyond one per event, in the messages and in the daily counters.
    pub duplicated: i64,
    /// Sent more than once after a refused attempt, and stored (each at most once).
    pub retried_and_stored: usize,
    /// Events in the read models that were never sent.
    pub unexpected: i64,
    pub gave_up: usize,
    pub answers: BTreeMap<String, u64>,
}

impl Report {
    /// Every acknowledged event applied exactly once: none given up, lost, duplicated or
    /// unexpected.
    pub fn assert_exact(&self) {
        assert_eq!(self.gave_up, 0, "{self}");
        assert_eq!(self.lost, 0, "{self}");
        assert_eq!(self.duplicated, 0, "{self}");
        assert_eq!(self.unexpected, 0, "{self}");
        assert_eq!(self.projected, self.acknowledged, "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}, acknowledged {}, projected {}, lost {}, duplicated {}, retried and stored \
             {}, unexpected {}, gave up {}; answers {:?}",
            self.sent,
            self.acknowledged,
            self.projected,
            self.lost,
            self.duplicated,
            self.retried_and_stored,
            self.unexpected,
            self.gave_up,
            self.answers
        )
    }
}

/// Compares `ledger` with the read models behind `pool` (whose messages are all the ledger's).
pub async fn check(pool: &PgPool, ledger: &Ledger) -> Report {
    let acknowledged: Vec<Uuid> = ledger.acknowledged.iter().copied().collect();
    let projected: HashSet<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM event_log WHERE event_id = ANY($1)")
            .bind(&acknowledged)
            .fetch_all(pool)
            .await
            .expect("read the event log")
            .into_iter()
            .collect();
    let sent: Vec<Uuid> = ledger.sent.iter().copied().collect();
    let (messages, distinct, in_stats, in_conversations, unexpected): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM messages),
                    (SELECT count(DISTINCT event_id) FROM messages),
                    (SELECT COALESCE(sum(user_messages + bot_messages), 0)::bigint FROM started_quarters),
                    (SELECT COALESCE(sum(message_count), 0)::bigint FROM conversations),
                    (SELECT count(*) FROM event_log
                     WHERE type = 'message.sent' AND NOT event_id = ANY($1))",
        )
        .bind(&sent)
        .fetch_one(pool)
        .await
        .expect("count the read models");
    let duplicated =
        (messages - distinct) + (in_stats - distinct).max(0) + (in_conversations - distinct).max(0);
    Report {
        sent: ledger.sent.len(),
        acknowledged: ledger.acknowledged.len(),
        projected: projected.len(),
        lost: ledger.acknowledged.len() - projected.len(),
        duplicated,
        retried_and_stored: ledger
            .retried
            .iter()
            .filter(|id| projected.contains(id))
            .count(),
        unexpected,
        gave_up: ledger.gave_up.len(),
        answers: ledger.answers.clone(),
    }
}

/// Samples the projector's stored offsets while a test runs, and records any that went
/// backwards.
#[derive(Debug, Default)]
pub struct OffsetWatch {
    pub samples: u64,
    pub backwards: Vec<String>,
}

/// Watches `topic`'s stored offsets in `pool` until `stop` is set.
pub fn watch_offsets(
    pool: PgPool,
    topic: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<OffsetWatch> {
    tokio::spawn(async move {
        let mut watch = OffsetWatch::default();
        let mut last: HashMap<i32, i64> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            // Postgres may be unreachable mid-fault; a missed sample is not a finding.
            if let Ok(rows) = sqlx::query_as::<_, (i32, i64)>(
                "SELECT partition, next_offset FROM projector_offsets WHERE topic = $1",
            )
            .bind(&topic)
            .fetch_all(&pool)
            .await
            {
                watch.samples += 1;
                for (partition, offset) in rows {
                    let before = last.insert(partition, offset).unwrap_or(0);
                    if offset < before {
                        watch
                            .backwards
                            .push(format!("partition {partition}: {before} → {offset}"));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        watch
    })
}
