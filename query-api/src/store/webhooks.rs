//! Webhook endpoints (the `webhook_endpoints` read model), their secrets and their deliveries
//! (`colloquy.webhook_*`, shared by every read-model version; docs/webhooks.md).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

/// An endpoint as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct EndpointRow {
    pub endpoint_id: Uuid,
    pub website_id: String,
    pub url: String,
    pub kinds: Vec<String>,
    pub channel: Option<String>,
    pub description: Option<String>,
    /// As the admin set it.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    /// When the dispatcher disabled it for failing (`WEBHOOK_DISABLE_AFTER_S`); enabling it
    /// again clears this.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed; null after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Deliveries waiting to be sent.
    pub pending: i64,
}

const ENDPOINT: &str = "SELECT w.endpoint_id, w.website_id, w.url, w.kinds, w.channel,
        w.description, w.enabled, w.created_at, w.changed_at, h.disabled_at, h.disabled_reason,
        h.failing_since, h.last_success_at,
        (SELECT count(*) FROM colloquy.webhook_deliveries d
         WHERE d.endpoint_id = w.endpoint_id AND d.state = 'pending') AS pending
    FROM webhook_endpoints w
    LEFT JOIN colloquy.webhook_endpoint_health h ON h.endpoint_id = w.endpoint_id
    WHERE NOT w.deleted";

/// The endpoints of `websites` (every website when `None`), oldest first.
pub async fn endpoints(
    pool: &PgPool,
    websites: Option<&[String]>,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{ENDPOINT} AND ($1::text[] IS NULL OR w.website_id = ANY($1))
         ORDER BY w.created_at, w.endpoint_id"
    ))
    .bind(websites)
    .fetch_all(pool)
    .await
}

pub async fn endpoint(
    pool: &PgPool,
    websites: Option<&[String]>,
    endpoint_id: Uuid,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{ENDPOINT} AND w.endpoint_id = $2 AND ($1::text[] IS NULL OR w.website_id = ANY($1))"
    ))
    .bind(websites)
    .bind(endpoint_id)
    .fetch_optional(pool)
    .await
}

/// Stores a new signing secret of `endpoint_id`. Those it had stay valid until `old_until`
/// (a rotation's overlap), so receivers can switch without losing a delivery.
pub async fn add_secret(
    pool: &PgPool,
    endpoint_id: Uuid,
    secret: &str,
    old_until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE colloquy.webhook_secrets SET expires_at = LEAST(COALESCE(expires_at, $2), $2)
         WHERE endpoint_id = $1",
    )
    .bind(endpoint_id)
    .bind(old_until)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO colloquy.webhook_secrets (endpoint_id, secret) VALUES ($1, $2)")
        .bind(endpoint_id)
        .bind(secret)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The secrets deliveries are signed with now, newest first.
pub async fn secrets(pool: &PgPool, endpoint_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT secret FROM colloquy.webhook_secrets
         WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > now())
         ORDER BY created_at DESC",
    )
    .bind(endpoint_id)
    .fetch_all(pool)
    .await
}

/// Enabling an endpoint again forgets that the dispatcher disabled it.
pub async fn clear_health(pool: &PgPool, endpoint_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM colloquy.webhook_endpoint_health WHERE endpoint_id = $1")
        .bind(endpoint_id)
        .execute(pool)
        .await?;
    wake_dispatchers(pool).await;
    Ok(())
}

/// One delivery and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct DeliveryRow {
    /// The `webhook-id` header: the same on every attempt.
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub website_id: String,
    /// The message's `type`.
    pub kind: String,
    /// The event that caused it; none for a test.
    pub event_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    /// The ids it is about (the body is read from the read models when it is sent).
    #[schemars(with = "Value")]
    pub subject: Json<Value>,
    /// `pending`, `delivered`, `failed` (no more attempts) or `dropped` (its contact was
    /// erased, or its endpoint deleted).
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

const DELIVERY: &str = "SELECT delivery_id, endpoint_id, website_id, kind, event_id,
        occurred_at, subject, state, attempts,
        CASE WHEN state = 'pending' THEN next_attempt_at END AS next_attempt_at,
        last_status, last_error, created_at, done_at
    FROM colloquy.webhook_deliveries";

/// The endpoint's last `limit` deliveries (of one `state` when given), newest first.
pub async fn deliveries(
    pool: &PgPool,
    endpoint_id: Uuid,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{DELIVERY} WHERE endpoint_id = $1 AND ($2::text IS NULL OR state = $2)
         ORDER BY seq DESC LIMIT $3"
    ))
    .bind(endpoint_id)
    .bind(state)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn delivery(
    pool: &PgPool,
    delivery_id: Uuid,
) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!("{DELIVERY} WHERE delivery_id = $1"))
        .bind(delivery_id)
        .fetch_optional(pool)
        .await
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct AttemptRow {
    #[serde(skip)]
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The answer's status; null when none came.
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// The attempts of each of `deliveries`, in order, in one read.
pub async fn attempts(
    pool: &PgPool,
    deliveries: &[Uuid],
) -> Result<HashMap<Uuid, Vec<AttemptRow>>, sqlx::Error> {
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT delivery_id, attempt, at, status, latency_ms, error FROM colloquy.webhook_attempts
         WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind(deliveries)
    .fetch_all(pool)
    .await?;
    let mut out: HashMap<Uuid, Vec<AttemptRow>> = HashMap::new();
    for row in rows {
        out.entry(row.delivery_id).or_default().push(row);
    }
    Ok(out)
}

/// Sends the delivery again, with the same id, as soon as its turn comes: a new round of
/// retries. False when it does not exist or is waiting already.
pub async fn redeliver(pool: &PgPool, delivery_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE colloquy.webhook_deliveries
         SET state = 'pending', round_attempts = 0, next_attempt_at = now(), done_at = NULL,
             last_error = NULL
         WHERE delivery_id = $1 AND state IN ('delivered', 'failed')",
    )
    .bind(delivery_id)
    .execute(pool)
    .await?;
    wake_dispatchers(pool).await;
    Ok(done.rows_affected() == 1)
}

/// Tells the dispatchers (this process's and others') to look now rather than at their next
/// poll ([`runtime::wakeup::WEBHOOKS`]). Failing only delays the delivery to that poll.
async fn wake_dispatchers(pool: &PgPool) {
    if let Err(error) = runtime::wakeup::notify(pool, runtime::wakeup::WEBHOOKS, "").await {
        tracing::debug!(%error, "cannot wake the webhook dispatchers; they look at their next poll");
    }
}

/// Enqueues a `webhook.test` message for the endpoint, on its own (it waits for nothing).
pub async fn enqueue_test(
    pool: &PgPool,
    endpoint: &EndpointRow,
    delivery_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO colloquy.webhook_deliveries (delivery_id, endpoint_id, website_id, kind,
             order_key, occurred_at, subject)
         VALUES ($1, $2, $3, 'webhook.test', 'test:' || $1, now(), '{}')",
    )
    .bind(delivery_id)
    .bind(endpoint.endpoint_id)
    .bind(&endpoint.website_id)
    .execute(pool)
    .await?;
    wake_dispatchers(pool).await;
    Ok(())
}

/// A delivery a dispatcher claimed, with where it goes.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub website_id: String,
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub subject: Json<Value>,
    /// This attempt's number, over every round.
    pub attempts: i32,
    /// This attempt's number in the current round.
    pub round_attempts: i32,
    pub url: String,
}

/// Claims up to `limit` deliveries that are due, each the oldest waiting of its endpoint and
/// order key (a contact's or a conversation's deliveries go one at a time, in order), for
/// `lease`: no other dispatcher takes them before it ends. Endpoints disabled (by an admin or
/// for failing) wait; a deleted endpoint's deliveries are dropped.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query(
        "UPDATE colloquy.webhook_deliveries d
         SET state = 'dropped', last_error = 'the endpoint was deleted', done_at = now()
         FROM webhook_endpoints w
         WHERE d.state = 'pending' AND w.endpoint_id = d.endpoint_id AND w.deleted",
    )
    .execute(pool)
    .await?;
    sqlx::query_as(
        "WITH heads AS (
            SELECT DISTINCT ON (endpoint_id, order_key) delivery_id, endpoint_id, seq,
                   next_attempt_at, locked_until
            FROM colloquy.webhook_deliveries WHERE state = 'pending'
            ORDER BY endpoint_id, order_key, seq),
         due AS (
            SELECT h.delivery_id FROM heads h
            JOIN webhook_endpoints w ON w.endpoint_id = h.endpoint_id AND w.enabled
                                    AND NOT w.deleted
            LEFT JOIN colloquy.webhook_endpoint_health e ON e.endpoint_id = h.endpoint_id
            WHERE h.next_attempt_at <= now() AND (h.locked_until IS NULL OR h.locked_until < now())
              AND e.disabled_at IS NULL
            ORDER BY h.seq LIMIT $1)
         UPDATE colloquy.webhook_deliveries d
         SET locked_until = now() + $2 * interval '1 millisecond',
             attempts = d.attempts + 1, round_attempts = d.round_attempts + 1
         FROM due, webhook_endpoints w
         WHERE d.delivery_id = due.delivery_id AND w.endpoint_id = d.endpoint_id
           AND d.state = 'pending' AND (d.locked_until IS NULL OR d.locked_until < now())
         RETURNING d.delivery_id, d.endpoint_id, d.website_id, d.kind, d.occurred_at, d.subject,
                   d.attempts, d.round_attempts, w.url",
    )
    .bind(limit)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

/// When the next delivery the dispatchers could claim falls due (retries wait for their time,
/// a claim for its lease); `None` when none waits on an endpoint that takes deliveries.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH heads AS (
            SELECT DISTINCT ON (endpoint_id, order_key) endpoint_id, next_attempt_at, locked_until
            FROM colloquy.webhook_deliveries WHERE state = 'pending'
            ORDER BY endpoint_id, order_key, seq)
         SELECT min(GREATEST(h.next_attempt_at, h.locked_until)) FROM heads h
         JOIN webhook_endpoints w ON w.endpoint_id = h.endpoint_id AND w.enabled AND NOT w.deleted
         LEFT JOIN colloquy.webhook_endpoint_health e ON e.endpoint_id = h.endpoint_id
         WHERE e.disabled_at IS NULL",
    )
    .fetch_one(pool)
    .await
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    /// What the delivery becomes: `delivered`, `failed`, `dropped`, or `pending` again with
    /// its next attempt.
    pub next: Next,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Delivered,
    Failed,
    Dropped,
    RetryAt(DateTime<Utc>),
}

/// Records `claimed`'s attempt, moves the delivery on, and keeps its endpoint's health: a
/// success clears `failing_since`; a failure starts it, and disables the endpoint once it has
/// failed for `disable_after`.
pub async fn finish(
    pool: &PgPool,
    claimed: &Claimed,
    attempt: &Attempt,
    disable_after: std::time::Duration,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO colloquy.webhook_attempts (delivery_id, attempt, at, status, latency_ms, error)
         VALUES ($1, $2, now(), $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(claimed.delivery_id)
    .bind(claimed.attempts)
    .bind(attempt.status)
    .bind(attempt.latency_ms)
    .bind(&attempt.error)
    .execute(&mut *tx)
    .await?;
    let (state, next_at) = match &attempt.next {
        Next::Delivered => ("delivered", None),
        Next::Failed => ("failed", None),
        Next::Dropped => ("dropped", None),
        Next::RetryAt(at) => ("pending", Some(*at)),
    };
    // Only if still ours: an erasure may have dropped it meanwhile.
    sqlx::query(
        "UPDATE colloquy.webhook_deliveries
         SET state = $2, next_attempt_at = COALESCE($3, next_attempt_at), locked_until = NULL,
             last_status = $4, last_error = $5,
             done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END
         WHERE delivery_id = $1 AND state = 'pending'",
    )
    .bind(claimed.delivery_id)
    .bind(state)
    .bind(next_at)
    .bind(attempt.status)
    .bind(&attempt.error)
    .execute(&mut *tx)
    .await?;
    match attempt.next {
        Next::Delivered => {
            sqlx::query(
                "INSERT INTO colloquy.webhook_endpoint_health (endpoint_id, last_success_at)
                 VALUES ($1, now())
                 ON CONFLICT (endpoint_id) DO UPDATE
                 SET failing_since = NULL, last_success_at = now()",
            )
            .bind(claimed.endpoint_id)
            .execute(&mut *tx)
            .await?;
        }
        Next::Failed | Next::RetryAt(_) => {
            sqlx::query(
                "INSERT INTO colloquy.webhook_endpoint_health AS h (endpoint_id, failing_since)
                 VALUES ($1, now())
                 ON CONFLICT (endpoint_id) DO UPDATE
                 SET failing_since = COALESCE(h.failing_since, now())",
            )
            .bind(claimed.endpoint_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE colloquy.webhook_endpoint_health
                 SET disabled_at = now(),
                     disabled_reason = 'every attempt failed since ' || failing_since
                                       || '; the last: ' || $3
                 WHERE endpoint_id = $1 AND disabled_at IS NULL
                   AND failing_since < now() - $2 * interval '1 millisecond'",
            )
            .bind(claimed.endpoint_id)
            .bind(i64::try_from(disable_after.as_millis()).unwrap_or(i64::MAX))
            .bind(attempt.error.as_deref().unwrap_or("no answer"))
            .execute(&mut *tx)
            .await?;
        }
        Next::Dropped => {}
    }
    tx.commit().await
}

/// How many deliveries wait, how long the oldest has waited, and how many endpoints the
/// dispatcher disabled: what the metrics report at scrape time.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Queue {
    pub pending: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub endpoints_disabled: i64,
}

pub async fn queue(pool: &PgPool) -> Result<Queue, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS pending, min(created_at) AS oldest_pending_at,
                (SELECT count(*) FROM colloquy.webhook_endpoint_health h
                 JOIN webhook_endpoints w ON w.endpoint_id = h.endpoint_id AND NOT w.deleted
                 WHERE h.disabled_at IS NOT NULL) AS endpoints_disabled
         FROM colloquy.webhook_deliveries WHERE state = 'pending'",
    )
    .fetch_one(pool)
    .await
}
