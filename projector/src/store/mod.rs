//! SQL for the read models. Every write is one multi-row statement per batch (`UNNEST`
//! arrays), and [`apply_batch`] wraps a batch's writes and its offsets in one transaction.

pub mod closes;
pub mod contact_requests;
pub mod contacts;
pub mod conversations;
pub mod cta_clicks;
pub mod customers;
pub mod event_log;
pub mod facts;
pub mod message_flags;
pub mod messages;
pub mod offsets;
pub mod priorities;
pub mod quarters;
pub mod retention;
pub mod webhooks;
pub mod websites;

use std::collections::{BTreeSet, HashSet};

use schemas::Event;
use schemas::live::{self, Change};
use sqlx::migrate::Migrator;
use sqlx::{Acquire as _, PgConnection, PgPool};

use crate::projections;
use crate::projections::webhooks::Trigger;

/// The read-model schema, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// One `UNNEST` argument: `f` of every row.
pub(crate) fn column<'a, R, T>(rows: &'a [R], f: impl FnMut(&'a R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// One decoded record and where it came from.
#[derive(Debug, Clone)]
pub struct Applied {
    pub partition: i32,
    pub offset: i64,
    pub event: Event,
}

/// What a committed batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Events applied for the first time.
    pub applied: usize,
    /// Events whose id was already in the event log (re-deliveries, client retries).
    pub duplicates: usize,
}

/// When the read models derived from other read models (contact rows and links, erasure,
/// retention) are brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    /// With every batch: the live projector.
    Now,
    /// Once, by [`derive_all`], after the last batch: a rebuild's bulk phase, where redoing
    /// them for every batch would cost in proportion to history.
    Later,
}

/// Applies `events` and records `next_offsets` (`(partition, next offset to read)`) in one
/// transaction. Either all of it is stored or none of it, so a crash at any point leaves the
/// stored offsets pointing exactly after the last applied event.
pub async fn apply_batch(
    pool: &PgPool,
    topic: &str,
    events: &[Applied],
    next_offsets: &[(i32, i64)],
) -> Result<BatchOutcome, sqlx::Error> {
    apply(pool, topic, events, next_offsets, Derive::Now).await
}

/// The tables [`derive_all`] rewrites.
pub const DERIVED_TABLES: &[&str] = &[
    "conversations",
    "contact_requests",
    "contacts",
    "started_quarters",
    "visits",
    "visitor_quarters",
];

/// Everything [`Derive::Later`] left out, for the whole schema, in one transaction.
pub async fn derive_all(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Whole-table aggregates over every submission: sort them in memory, not on disk.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    // The updates below rewrite whole tables: the statistics' quarter hours follow once, after.
    sqlx::query("ALTER TABLE conversations DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await?;
    // Customer erasure first: it clears submissions the contact rows are built from.
    customers::erase_all(&mut tx).await?;
    contacts::derive_all(&mut tx).await?;
    retention::scrub(&mut tx, retention::Scope::All).await?;
    facts::refresh_all(&mut tx).await?;
    quarters::refresh(&mut tx).await?;
    tx.commit().await
}

/// [`apply_batch`], choosing when derived read models are brought up to date.
pub async fn apply(
    pool: &PgPool,
    topic: &str,
    events: &[Applied],
    next_offsets: &[(i32, i64)],
    derive: Derive,
) -> Result<BatchOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let outcome = apply_in(&mut tx, events, derive).await?.outcome;
    offsets::save(&mut tx, topic, next_offsets).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Whether Postgres refused a statement for the values in it: a data exception (SQLSTATE
/// class 22, say a time out of range or an overflowing sum), a violated constraint (23) or a
/// program limit (54, say an index row too large). The same events fail the same way however
/// often they are retried, unlike a lost connection or a full disk.
pub fn refused_for_data(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["22", "23", "54"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        _ => false,
    }
}

/// An event Postgres refused: its place in the batch, and why.
#[derive(Debug)]
pub struct Refused {
    pub index: usize,
    pub reason: String,
}

/// A batch applied but not committed, with the events Postgres refused, so that the caller
/// can set those aside (dead-letter them) before the offsets that pass over them are stored.
pub struct Isolated {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    pub outcome: BatchOutcome,
    pub refused: Vec<Refused>,
    /// What the live feed says of the events applied for the first time.
    pub changes: Vec<Change>,
    /// What of them may be sent to webhook endpoints ([`Isolated::enqueue_webhooks`]).
    pub triggers: Vec<Trigger>,
}

impl Isolated {
    /// Announces [`Isolated::changes`] on the live feed ([`schemas::live`]), delivered to
    /// listeners when (and only if) the transaction commits.
    pub async fn announce(&mut self) -> Result<(), sqlx::Error> {
        for payload in live::payloads(&self.changes) {
            runtime::wakeup::notify(&mut *self.tx, live::CHANNEL, &payload).await?;
        }
        Ok(())
    }

    /// Decides the webhook deliveries of the events applied for the first time, in the batch's
    /// transaction: the live projector's, never a rebuild's (history is not sent again).
    pub async fn enqueue_webhooks(&mut self) -> Result<webhooks::Enqueued, sqlx::Error> {
        webhooks::enqueue(&mut self.tx, &self.triggers).await
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// [`apply`], except that a batch Postgres [`refused_for_data`] is applied again one event at
/// a time, each in a savepoint of the same transaction, passing over the events it refuses;
/// then `next_offsets` are recorded, uncommitted. Without it one such event would stop its
/// partition for good, its batch retried forever. The events that stay apply exactly as they
/// would have in the batch (the same order, each seeing the ones before it). `tx` is begun by
/// the caller, who may have locked something in it first (the live projector's lease fence).
pub async fn apply_isolating(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    topic: &str,
    events: &[Applied],
    next_offsets: &[(i32, i64)],
    derive: Derive,
) -> Result<Isolated, sqlx::Error> {
    let mut whole = tx.begin().await?;
    let result = apply_in(&mut whole, events, derive).await;
    let (fresh, refused) = match result {
        Ok(fresh) => {
            whole.commit().await?;
            (fresh, Vec::new())
        }
        Err(error) if refused_for_data(&error) => {
            whole.rollback().await?;
            tracing::warn!(%error, "the read models refused a batch; applying it event by event");
            one_by_one(&mut tx, events, derive).await?
        }
        Err(error) => return Err(error),
    };
    offsets::save(&mut tx, topic, next_offsets).await?;
    Ok(Isolated {
        tx,
        outcome: fresh.outcome,
        refused,
        changes: fresh.changes,
        triggers: fresh.triggers,
    })
}

/// Applies `events` one at a time, each in a savepoint, passing over those Postgres refuses.
async fn one_by_one(
    tx: &mut PgConnection,
    events: &[Applied],
    derive: Derive,
) -> Result<(Fresh, Vec<Refused>), sqlx::Error> {
    let mut fresh = Fresh::default();
    let mut refused = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let mut savepoint = tx.begin().await?;
        match apply_in(&mut savepoint, std::slice::from_ref(event), derive).await {
            Ok(one) => {
                savepoint.commit().await?;
                fresh.outcome.applied += one.outcome.applied;
                fresh.outcome.duplicates += one.outcome.duplicates;
                fresh.changes.extend(one.changes);
                fresh.triggers.extend(one.triggers);
            }
            Err(error) if refused_for_data(&error) => {
                savepoint.rollback().await?;
                refused.push(Refused {
                    index,
                    reason: format!("the read models refused it: {error}"),
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok((fresh, refused))
}

/// Waits for the other transactions deriving into this schema to commit, and keeps them
/// waiting until this one does.
///
/// What follows derives rows from other rows across partitions (a contact from the
/// submissions of all its conversations; a request's status from the request and its status
/// changes, which come in different conversations; erasure and retention from the
/// conversations they reach), and projector workers apply partitions in concurrent
/// transactions. Under READ
/// COMMITTED two of them would each derive from what the other had not committed yet, and the
/// later commit would overwrite the earlier's share (a contact missing a conversation). Behind
/// this lock, the later one derives after the earlier committed and sees all of it (so do the
/// statistics' quarter hours, [`quarters::flush`], where a visitor's visits in two partitions
/// meet); the
/// writes before it (the event log, messages, conversations, counters) touch each
/// partition's own rows or add commutatively, and still run side by side. A derive that
/// updates another partition's rows (an erasure reaching its conversations) can meet that
/// partition's writes in a deadlock; Postgres breaks it and the worker retries its batch.
async fn derive_lock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('colloquy.derive.' || current_schema(), 0))",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What [`apply_in`] did, and what the events applied for the first time mean beyond the read
/// models: what the live feed says of them, and what may be sent to webhook endpoints.
#[derive(Default)]
struct Fresh {
    outcome: BatchOutcome,
    changes: Vec<Change>,
    triggers: Vec<Trigger>,
}

/// The writes of [`apply`], in the caller's transaction, without the offsets.
async fn apply_in(
    conn: &mut PgConnection,
    events: &[Applied],
    derive: Derive,
) -> Result<Fresh, sqlx::Error> {
    // A record can be delivered twice in one batch (a client retry landing next to the
    // original); keep the first.
    let mut seen = HashSet::new();
    let unique: Vec<&Applied> = events
        .iter()
        .filter(|a| seen.insert(event_log::identity(&a.event)))
        .collect();
    let fresh = event_log::insert_new(&mut *conn, &unique).await?;
    let new_events: Vec<&Event> = fresh.iter().map(|a| &a.event).collect();
    let changes = projections::changes(new_events.iter().copied());
    conversations::upsert(&mut *conn, &changes.conversations).await?;
    messages::insert(&mut *conn, &changes.messages).await?;
    let new_messages: Vec<_> = changes.messages.iter().map(|m| m.event_id).collect();
    message_flags::catch_up(&mut *conn, &new_messages).await?;
    let flagged = message_flags::apply(&mut *conn, &changes.message_flags).await?;
    priorities::upsert(&mut *conn, &changes.priorities).await?;
    cta_clicks::insert(&mut *conn, &changes.cta_clicks).await?;
    closes::insert(&mut *conn, &changes.closes).await?;
    let stored = contact_requests::insert_requests(&mut *conn, &changes.contact_requests).await?;
    contact_requests::insert_changes(&mut *conn, &changes.status_changes).await?;
    let requests: BTreeSet<(String, String)> = changes
        .contact_requests
        .iter()
        .map(|r| (r.website_id.clone(), r.request_id.clone()))
        .chain(
            changes
                .status_changes
                .iter()
                .map(|c| (c.website_id.clone(), c.request_id.clone())),
        )
        .chain(stored)
        .collect();
    websites::upsert(&mut *conn, &changes.websites).await?;
    websites::upsert_tokens(&mut *conn, &changes.tokens).await?;
    websites::insert_token_revocations(&mut *conn, &changes.token_revocations).await?;
    websites::upsert_privacy(&mut *conn, &changes.privacy).await?;
    websites::upsert_reports(&mut *conn, &changes.reports).await?;
    websites::upsert_time_zones(&mut *conn, &changes.time_zones).await?;
    websites::upsert_bot_settings(&mut *conn, &changes.bot_settings).await?;
    websites::upsert_lead_keywords(&mut *conn, &changes.lead_keywords).await?;
    webhooks::upsert_endpoints(&mut *conn, &changes.webhook_endpoints).await?;
    let conversations: Vec<(String, String)> = new_events
        .iter()
        .map(|e| (e.website_id.clone(), e.conversation_id.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let now = derive == Derive::Now;
    derive_lock(&mut *conn).await?;
    // A request and a change of its status can come in two partitions' batches at once: folded
    // behind the lock, the later batch sees the earlier one's half.
    contact_requests::refold(&mut *conn, requests.clone()).await?;
    contacts::apply(
        &mut *conn,
        &changes.contacts,
        &conversations,
        &requests,
        now,
    )
    .await?;
    let written = retention::Written {
        events: new_events
            .iter()
            .map(|e| retention::WrittenEvent {
                event_id: e.event_id,
                website_id: e.website_id.clone(),
                occurred_at: e.occurred_at,
            })
            .collect(),
        conversations: conversations.clone(),
        requests: requests.iter().cloned().collect(),
    };
    retention::apply(&mut *conn, &changes.retention, &written, now).await?;
    customers::apply(
        &mut *conn,
        &changes.conversation_customers,
        &changes.erased_customers,
        &conversations,
        now,
    )
    .await?;
    if now {
        // The conversations whose messages or closes this batch wrote, and those of the
        // messages its flags reached (a flag may come in another conversation's batch).
        let touched: Vec<(String, String)> = conversations
            .iter()
            .cloned()
            .chain(flagged)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // A conversation's detected language comes from its messages' alone, and a message's
        // never changes after it is stored: only new ones with a language can move it.
        let spoken: Vec<(String, String)> = changes
            .messages
            .iter()
            .filter(|m| m.detected_language.is_some())
            .map(|m| (m.website_id.clone(), m.conversation_id.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        facts::refresh(&mut *conn, &touched, &spoken).await?;
    }
    // Last: every write to the conversations is in.
    quarters::flush(&mut *conn).await?;
    let outcome = BatchOutcome {
        applied: new_events.len(),
        duplicates: events.len() - new_events.len(),
    };
    Ok(Fresh {
        outcome,
        changes: new_events.into_iter().filter_map(Change::of).collect(),
        triggers: changes.webhook_triggers,
    })
}
