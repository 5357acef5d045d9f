//! Partition leases: which worker of which projector process applies which partition.
//!
//! Projector processes share the topic's partitions with no coordinator of our own and
//! without the broker's consumer groups (Tansu's are unreliable; a lease in the database the
//! offsets live in works the same on any Kafka). Each partition has a row in
//! `colloquy.projector_leases`, owned by at most one worker (a process id and the worker's
//! number) until `expires_at`. Every process renews its workers' leases every quarter of
//! `PROJECTOR_LEASE_TTL_MS`; a process that dies stops renewing, and its partitions are taken
//! once the leases expire.
//!
//! Every worker, between batches, holds its fair share: the topic's partitions divided by
//! the workers of every live process (`colloquy.projector_instances`, kept by the heartbeat),
//! rounded up. It releases what it has beyond that (highest partitions first) for a newcomer
//! to take, and takes free or expired partitions up to it.
//!
//! **Fencing.** Taking a partition bumps its `epoch`. A worker's batch transaction first
//! locks the lease rows of the batch's partitions `FOR KEY SHARE`, on the condition that they
//! are still the worker's under the epochs it read its offsets under ([`hold`]). A takeover
//! locks the rows `FOR UPDATE SKIP LOCKED`, which conflicts with that lock: so a partition
//! changes hands only between two batch transactions, never during one, and the batch of a
//! worker that lost its lease (a process paused past its TTL, say) finds the new epoch and
//! stores nothing. The new owner reads the stored offsets after its takeover committed, so it
//! starts exactly where the last committed batch stopped: every record is applied once across
//! hand-overs. Renewing and releasing touch no key and take a weaker lock that does not wait
//! for batches, so neither waits on a batch and no lock order can deadlock.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A projector process as the others see it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: Uuid,
    /// Host and process id, for people reading the tables.
    pub name: String,
    pub workers: i32,
}

impl Instance {
    pub fn new(workers: usize) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Self {
            id: Uuid::new_v4(),
            name: format!("{host}:{}", std::process::id()),
            workers: i32::try_from(workers).unwrap_or(i32::MAX),
        }
    }

    pub fn worker(&self, worker: usize) -> Member {
        Member {
            instance: self.id,
            worker: i32::try_from(worker).unwrap_or(i32::MAX),
        }
    }
}

/// One worker of one process: what a lease is owned by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub instance: Uuid,
    pub worker: i32,
}

/// The partitions a worker holds, each with the epoch it was granted under.
pub type Held = BTreeMap<i32, i64>;

/// A batch's partitions are no longer all the worker's: another took one over.
#[derive(Debug, thiserror::Error)]
#[error("partitions {partitions:?} are no longer this worker's; another took them over")]
pub struct Lost {
    pub partitions: Vec<i32>,
}

/// How many partitions each of `members` workers holds at most: all of them, shared out,
/// rounded up so that every partition has room.
pub fn fair_share(partitions: usize, members: i64) -> usize {
    partitions.div_ceil(usize::try_from(members.max(1)).unwrap_or(usize::MAX))
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Brings a worker's leases to its fair share and renews them; the partitions it holds after.
/// `partitions` are the topic's (a topic can gain partitions: each gets a row here).
pub async fn rebalance(
    meta: &PgPool,
    topic: &str,
    partitions: &[i32],
    member: Member,
    ttl: Duration,
) -> Result<Held, sqlx::Error> {
    sqlx::query(
        "INSERT INTO colloquy.projector_leases (topic, partition)
         SELECT $1, p FROM UNNEST($2::int[]) AS p
         ON CONFLICT DO NOTHING",
    )
    .bind(topic)
    .bind(partitions)
    .execute(meta)
    .await?;
    let mut tx = meta.begin().await?;
    let members: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(workers), 0)::bigint FROM colloquy.projector_instances
         WHERE heartbeat_at > now() - make_interval(secs => $1)",
    )
    .bind(seconds(ttl))
    .fetch_one(&mut *tx)
    .await?;
    let share = fair_share(partitions.len(), members);
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "UPDATE colloquy.projector_leases
         SET expires_at = now() + make_interval(secs => $4)
         WHERE topic = $1 AND owner_instance = $2 AND owner_worker = $3
         RETURNING partition, epoch",
    )
    .bind(topic)
    .bind(member.instance)
    .bind(member.worker)
    .bind(seconds(ttl))
    .fetch_all(&mut *tx)
    .await?;
    let mut held: Held = rows.into_iter().collect();
    if held.len() > share {
        let excess: Vec<i32> = held
            .keys()
            .rev()
            .take(held.len() - share)
            .copied()
            .collect();
        release(&mut tx, topic, member, &excess).await?;
        for p in &excess {
            held.remove(p);
        }
    } else if held.len() < share {
        let taken: Vec<(i32, i64)> = sqlx::query_as(
            "UPDATE colloquy.projector_leases AS l
             SET owner_instance = $2, owner_worker = $3, epoch = l.epoch + 1,
                 expires_at = now() + make_interval(secs => $4), acquired_at = now()
             FROM (SELECT topic, partition FROM colloquy.projector_leases
                   WHERE topic = $1 AND partition = ANY($5)
                     AND (owner_instance IS NULL OR expires_at < now())
                   ORDER BY partition
                   LIMIT $6
                   FOR UPDATE SKIP LOCKED) AS free
             WHERE l.topic = free.topic AND l.partition = free.partition
             RETURNING l.partition, l.epoch",
        )
        .bind(topic)
        .bind(member.instance)
        .bind(member.worker)
        .bind(seconds(ttl))
        .bind(partitions)
        .bind(i64::try_from(share - held.len()).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        held.extend(taken);
    }
    tx.commit().await?;
    Ok(held)
}

async fn release(
    conn: &mut PgConnection,
    topic: &str,
    member: Member,
    partitions: &[i32],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE colloquy.projector_leases
         SET owner_instance = NULL, owner_worker = NULL, expires_at = now()
         WHERE topic = $1 AND partition = ANY($4) AND owner_instance = $2 AND owner_worker = $3",
    )
    .bind(topic)
    .bind(member.instance)
    .bind(member.worker)
    .bind(partitions)
    .execute(conn)
    .await?;
    Ok(())
}

/// Extends by `ttl` the leases of the process's `workers` (those not stalled).
pub async fn renew(
    meta: &PgPool,
    instance: Uuid,
    workers: &[i32],
    ttl: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE colloquy.projector_leases SET expires_at = now() + make_interval(secs => $2)
         WHERE owner_instance = $1 AND owner_worker = ANY($3)",
    )
    .bind(instance)
    .bind(seconds(ttl))
    .bind(workers)
    .execute(meta)
    .await?;
    Ok(())
}

/// Frees the partitions of one stalled worker at once, for the others to take. A batch the
/// stalled worker still has open is refused by the fence when it commits (the epochs moved on
/// with the new holders).
pub async fn release_worker(meta: &PgPool, member: Member) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE colloquy.projector_leases
         SET owner_instance = NULL, owner_worker = NULL, expires_at = now()
         WHERE owner_instance = $1 AND owner_worker = $2",
    )
    .bind(member.instance)
    .bind(member.worker)
    .execute(meta)
    .await?;
    Ok(())
}

/// On a clean stop, after the last batch: frees every partition of the process at once, for
/// the others to take without waiting for the leases to expire, and leaves the membership.
pub async fn leave(meta: &PgPool, instance: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = meta.begin().await?;
    sqlx::query(
        "UPDATE colloquy.projector_leases
         SET owner_instance = NULL, owner_worker = NULL, expires_at = now()
         WHERE owner_instance = $1",
    )
    .bind(instance)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM colloquy.projector_instances WHERE id = $1")
        .bind(instance)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The fence, first in a batch's transaction: locks the lease rows of `partitions` while they
/// are still `member`'s under the epochs in `held`, until the transaction ends; [`Lost`] if
/// any is not.
///
/// The lock keeps the partitions from being taken while the transaction is open, so a process
/// frozen mid-batch (SIGSTOP, a paused VM) would keep them for good: the transaction is set to
/// be ended by Postgres once left idle for `ttl`, and they move on as from a dead process.
pub async fn hold(
    conn: &mut PgConnection,
    topic: &str,
    member: Member,
    held: &Held,
    partitions: &[i32],
    ttl: Duration,
) -> anyhow::Result<()> {
    sqlx::query("SELECT set_config('idle_in_transaction_session_timeout', $1, true)")
        .bind(ttl.as_millis().to_string())
        .execute(&mut *conn)
        .await?;
    let (wanted, epochs): (Vec<i32>, Vec<i64>) = partitions
        .iter()
        .filter_map(|p| held.get(p).map(|e| (*p, *e)))
        .unzip();
    let locked: Vec<i32> = sqlx::query_scalar(
        "SELECT partition FROM colloquy.projector_leases
         WHERE topic = $1 AND owner_instance = $2 AND owner_worker = $3
           AND (partition, epoch) IN (SELECT * FROM UNNEST($4::int[], $5::bigint[]))
         FOR KEY SHARE",
    )
    .bind(topic)
    .bind(member.instance)
    .bind(member.worker)
    .bind(&wanted)
    .bind(&epochs)
    .fetch_all(&mut *conn)
    .await?;
    let lost: Vec<i32> = partitions
        .iter()
        .filter(|p| !locked.contains(p))
        .copied()
        .collect();
    if lost.is_empty() {
        Ok(())
    } else {
        Err(Lost { partitions: lost }.into())
    }
}

/// Who holds each partition of `topic`, for the operator (`projector leases`).
pub async fn list(meta: &PgPool, topic: &str) -> Result<Vec<LeaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.partition, i.name, l.owner_worker, l.epoch, l.expires_at > now() AS live
         FROM colloquy.projector_leases l
         LEFT JOIN colloquy.projector_instances i ON i.id = l.owner_instance
         WHERE l.topic = $1 ORDER BY l.partition",
    )
    .bind(topic)
    .fetch_all(meta)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct LeaseRow {
    pub partition: i32,
    /// The holding process, when it is still a member.
    pub name: Option<String>,
    pub owner_worker: Option<i32>,
    pub epoch: i64,
    pub live: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fair_share_leaves_room_for_every_partition() {
        assert_eq!(fair_share(12, 1), 12);
        assert_eq!(fair_share(12, 6), 2);
        assert_eq!(fair_share(12, 5), 3);
        // More workers than partitions: one each, some idle.
        assert_eq!(fair_share(4, 6), 1);
        // Before the first heartbeat is seen: as if alone.
        assert_eq!(fair_share(12, 0), 12);
        for members in 1..20 {
            assert!(fair_share(12, members) * members as usize >= 12);
        }
    }
}
