//! A batch decoded: sealed records opened with their keys, admin records checked for their
//! proofs, and what does not decode or prove set apart as poison.

use std::collections::{BTreeMap, HashMap};

use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use schemas::{Event, FieldError};
use sqlx::PgPool;
use uuid::Uuid;

use crate::opening;
use crate::proofs::Proofs;
use crate::store::Applied;

/// A batch decoded: events to apply, records to dead-letter, and where each partition's
/// reading goes on.
#[derive(Debug, Default)]
pub struct Prepared {
    pub events: Vec<Applied>,
    pub poison: Vec<Poison>,
    pub next_offsets: Vec<(i32, i64)>,
}

#[derive(Debug)]
pub struct Poison {
    pub message: OwnedMessage,
    pub reason: String,
}

/// Decodes a batch, opening sealed records with their keys ([`opening`]) and checking the
/// proofs of admin records ([`Proofs`]). An error reading the keys decodes nothing: the batch is
/// retried.
pub async fn prepare(
    batch: &[OwnedMessage],
    keys: &PgPool,
    proofs: &Proofs,
) -> Result<Prepared, sqlx::Error> {
    let events = opening::open(batch.iter().map(payload), keys).await?;
    Ok(sort(batch, events, proofs))
}

/// Decodes a batch with the given key secrets.
pub fn decode(
    batch: &[OwnedMessage],
    secrets: &HashMap<Uuid, [u8; 32]>,
    proofs: &Proofs,
) -> Prepared {
    sort(
        batch,
        opening::open_with(batch.iter().map(payload), secrets),
        proofs,
    )
}

fn payload(m: &OwnedMessage) -> &[u8] {
    m.payload().unwrap_or_default()
}

/// Splits a decoded batch into events and poison (what did not decode, and admin records
/// without a valid proof), and finds where each partition goes on.
fn sort(
    batch: &[OwnedMessage],
    events: Vec<Result<Event, FieldError>>,
    proofs: &Proofs,
) -> Prepared {
    let mut prepared = Prepared::default();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (m, event) in batch.iter().zip(events) {
        let entry = next.entry(m.partition()).or_insert(0);
        *entry = (*entry).max(m.offset() + 1);
        let proven =
            event
                .map_err(|e| e.to_string())
                .and_then(|event| match proofs.check(m, &event) {
                    Ok(()) => Ok(event),
                    Err(unproven) => Err(unproven.to_string()),
                });
        match proven {
            Ok(event) => prepared.events.push(Applied {
                partition: m.partition(),
                offset: m.offset(),
                event,
            }),
            Err(reason) => prepared.poison.push(Poison {
                message: m.clone(),
                reason,
            }),
        }
    }
    prepared.next_offsets = next.into_iter().collect();
    prepared
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use runtime::proof::AdminKeys;

    fn record(partition: i32, offset: i64, payload: &[u8]) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.to_vec()),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        )
    }

    #[test]
    fn the_next_offset_of_each_partition_is_one_past_its_last_record() {
        let batch = [record(0, 5, b"x"), record(1, 9, b"x"), record(0, 6, b"x")];
        assert_eq!(
            decode(&batch, &HashMap::new(), &Proofs::required(AdminKeys::dev())).next_offsets,
            vec![(0, 7), (1, 10)]
        );
    }

    #[test]
    fn an_undecodable_record_is_poison_and_still_advances_its_partition() {
        let prepared = decode(
            &[record(3, 0, b"not json")],
            &HashMap::new(),
            &Proofs::required(AdminKeys::dev()),
        );
        assert_eq!(prepared.poison.len(), 1);
        assert!(prepared.events.is_empty());
        assert_eq!(prepared.next_offsets, vec![(3, 1)]);
    }
}
