//! The key store of sealed personal data: `colloquy.subject_keys`, one key per website and
//! subject (a conversation, or what an admin event is keyed by). Ingest and query-api get or
//! create keys to seal events with ([`SubjectKeys::for_subjects`]); the projector reads them
//! by id to open events ([`secrets`]) and deletes them when it erases a person. The table is
//! created by the projector's migrations.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use schemas::Event;
use schemas::sealing::{self, SubjectKey};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// A website and a subject.
pub type Subject = (String, String);

/// How long a process reuses a key it looked up. An erasure deletes keys; an event sealed
/// within this time with a deleted key belongs to an erased conversation, which the projector
/// erases whatever arrives for, so it reads the same either way.
const CACHE_FOR: Duration = Duration::from_secs(60);

/// Beyond this many cached keys the cache starts over, bounding memory.
const CACHE_CAPACITY: usize = 100_000;

/// Gets or creates subjects' keys, with a short-lived cache.
///
/// A new key must be committed before an event sealed with it is acknowledged, so every
/// request with a new conversation waits for a statement and a commit. Requests that need new
/// keys at the same time share them: whoever takes one of the `writers` slots creates the keys
/// every waiting request asked for, in one statement and one commit, and hands each its own
/// (see [`SubjectKeys::create_together`]). There are as many slots as pooled connections.
#[derive(Debug)]
pub struct SubjectKeys {
    pool: PgPool,
    cache: Mutex<HashMap<Subject, (SubjectKey, Instant)>>,
    /// Subjects waiting for keys, with where to send each request's answer.
    waiting: Mutex<Vec<Waiting>>,
    writers: tokio::sync::Semaphore,
}

type Created = Result<HashMap<Subject, SubjectKey>, String>;

#[derive(Debug)]
struct Waiting {
    subjects: Vec<Subject>,
    answer: tokio::sync::oneshot::Sender<Created>,
}

impl SubjectKeys {
    pub fn new(pool: PgPool) -> Self {
        let writers = pool.options().get_max_connections().max(1) as usize;
        Self {
            pool,
            cache: Mutex::default(),
            waiting: Mutex::default(),
            writers: tokio::sync::Semaphore::new(writers),
        }
    }

    /// Creates (or reads) the keys of `subjects` together with those other requests are
    /// waiting for: whoever gets a `writers` slot creates them all in one commit.
    async fn create_together(
        &self,
        subjects: Vec<Subject>,
    ) -> Result<HashMap<Subject, SubjectKey>, sqlx::Error> {
        let (answer, mut mine) = tokio::sync::oneshot::channel();
        lock(&self.waiting).push(Waiting { subjects, answer });
        let _slot = self
            .writers
            .acquire()
            .await
            .map_err(|closed| sqlx::Error::Protocol(closed.to_string()))?;
        // A writer before us may have created ours already.
        if let Ok(created) = mine.try_recv() {
            return created.map_err(sqlx::Error::Protocol);
        }
        let batch = std::mem::take(&mut *lock(&self.waiting));
        let mut all: Vec<Subject> = batch.iter().flat_map(|w| w.subjects.clone()).collect();
        all.sort();
        all.dedup();
        let created = self.create(all).await.map_err(|e| e.to_string());
        for waiting in batch {
            let answer = created.as_ref().map(|keys| {
                waiting
                    .subjects
                    .iter()
                    .filter_map(|s| Some((s.clone(), keys.get(s)?.clone())))
                    .collect()
            });
            let _gone = waiting.answer.send(answer.map_err(String::clone));
        }
        // Ours was in this batch, or in the one another writer is creating.
        match mine.await {
            Ok(created) => created.map_err(sqlx::Error::Protocol),
            Err(_) => Err(sqlx::Error::Protocol(
                "a key request was lost while waiting".into(),
            )),
        }
    }

    /// The bytes to write to the topic for each of `events`: personal fields sealed with the
    /// key of the event's subject, its conversation (created when it has none yet). An error
    /// (Postgres unreachable) means nothing can be sealed: the caller must not store the events.
    pub async fn seal(&self, events: &[&Event]) -> Result<Vec<Vec<u8>>, sqlx::Error> {
        let encoded = events
            .iter()
            .map(|e| {
                e.encode()
                    .map(|plain| (*e, plain))
                    .map_err(|error| sqlx::Error::Encode(Box::new(error)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.seal_encoded(encoded).await
    }

    /// [`Self::seal`] for events their caller already encoded plainly: an event with nothing
    /// to seal keeps those bytes instead of being encoded a second time.
    pub async fn seal_encoded(
        &self,
        events: Vec<(&Event, Vec<u8>)>,
    ) -> Result<Vec<Vec<u8>>, sqlx::Error> {
        let subject = |e: &Event| (e.website_id.clone(), e.conversation_id.clone());
        let keys = self
            .for_subjects(
                events
                    .iter()
                    .filter(|(e, _)| sealing::seals(e.event_type()))
                    .map(|(e, _)| subject(e)),
            )
            .await?;
        events
            .into_iter()
            .map(|(e, plain)| match keys.get(&subject(e)) {
                Some(key) if sealing::seals(e.event_type()) => e.encode_sealed(key),
                _ => Ok(plain),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))
    }

    /// The key of every subject, creating the missing ones. An error (Postgres unreachable)
    /// means nothing can be sealed: the caller must not store the events.
    pub async fn for_subjects(
        &self,
        subjects: impl IntoIterator<Item = Subject>,
    ) -> Result<HashMap<Subject, SubjectKey>, sqlx::Error> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.cache);
            for subject in subjects {
                match cache.get(&subject) {
                    Some((key, at)) if at.elapsed() < CACHE_FOR => {
                        found.insert(subject, key.clone());
                    }
                    _ => missing.push(subject),
                }
            }
        }
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            found.extend(self.create_together(missing).await?);
        }
        Ok(found)
    }

    /// Gets or creates the keys of `missing` (sorted, without duplicates) in one statement.
    async fn create(
        &self,
        missing: Vec<Subject>,
    ) -> Result<HashMap<Subject, SubjectKey>, sqlx::Error> {
        if missing.is_empty() {
            return Ok(HashMap::new());
        }
        let fresh: Vec<SubjectKey> = missing.iter().map(|_| SubjectKey::generate()).collect();
        // Updating a conflicting row to itself makes RETURNING give the key that exists (one
        // another process inserted first included: the update waits for its commit), so every
        // subject comes back from one index probe. A join of the wanted subjects with the
        // table, planned while the table was empty, scanned all of it for every batch: ingest
        // fell to a third of its rate as the table grew. Sorted subjects lock rows in one order.
        let rows: Vec<(String, String, Uuid, Vec<u8>)> = sqlx::query_as(
            "INSERT INTO colloquy.subject_keys (website_id, subject, key_id, secret)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::bytea[])
             ON CONFLICT (website_id, subject) DO UPDATE SET website_id = EXCLUDED.website_id
             RETURNING website_id, subject, key_id, secret",
        )
        .bind(missing.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|k| k.id).collect::<Vec<_>>())
        .bind(fresh.iter().map(|k| k.secret.to_vec()).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?;
        let now = Instant::now();
        let mut found = HashMap::with_capacity(rows.len());
        let mut cache = lock(&self.cache);
        if cache.len() + rows.len() > CACHE_CAPACITY {
            cache.clear();
        }
        for (website, subject, id, secret) in rows {
            let secret = <[u8; 32]>::try_from(secret.as_slice()).map_err(|_| {
                sqlx::Error::Protocol(format!("the key of {website}/{subject} is not 32 bytes"))
            })?;
            let key = SubjectKey { id, secret };
            cache.insert((website.clone(), subject.clone()), (key.clone(), now));
            found.insert((website, subject), key);
        }
        if found.len() == missing.len() {
            Ok(found)
        } else {
            Err(sqlx::Error::Protocol(format!(
                "keys came back for {} of {} subjects",
                found.len(),
                missing.len()
            )))
        }
    }
}

/// A lock whose holder panicked still guards plain data: keep using it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The secrets of the keys `ids` that still exist; an erased key is simply absent.
pub async fn secrets(
    executor: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, [u8; 32]>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT key_id, secret FROM colloquy.subject_keys WHERE key_id = ANY($1)")
            .bind(ids)
            .fetch_all(executor)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, s)| Some((id, <[u8; 32]>::try_from(s.as_slice()).ok()?)))
        .collect())
}
