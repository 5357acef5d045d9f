//! `projector dlq list` and `projector dlq replay`: the parked records of the dead-letter topic.
//!
//! A record is parked when this code cannot decode it (not JSON, an unknown type or version, an
//! invalid payload), with the reason and its source partition and offset in headers. After a
//! fix is deployed (an upcaster, a new type, a relaxed rule), `replay` applies every parked
//! record that now decodes to the live read models. The event log's primary key makes that
//! exactly once, however often it runs. Records that still do not decode stay parked. The
//! originals are still in the main topic, so a rebuild with the fixed code reads them there.

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use schemas::topics::PROOF_HEADER;
use schemas::topics::dead_letter_headers as dlq;
use sqlx::PgPool;

use crate::config::ProjectorConfig;
use crate::opening;
use crate::proofs::{Origin, Proofs};
use crate::store::{self, Applied};

/// One parked record.
#[derive(Debug, Clone)]
pub struct Parked {
    pub dlq_partition: i32,
    pub dlq_offset: i64,
    pub reason: String,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    /// The admin record's proof of origin, kept from the source record.
    pub proof: Option<String>,
}

/// Every record of the dead-letter topic, from its beginning to its end now.
pub fn read_all(config: &ProjectorConfig) -> anyhow::Result<Vec<Parked>> {
    let topic = &config.dead_letter_topic;
    let consumer: BaseConsumer = config
        .kafka
        .client_config()
        .set("group.id", "colloquy-dlq")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("cannot create the Kafka consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("cannot fetch the dead-letter topic's metadata")?;
    let mut list = TopicPartitionList::new();
    let mut remaining = 0i64;
    for t in metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic.as_str())
    {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .context("cannot read the dead-letter topic's watermarks")?;
            remaining += high - low;
            list.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    let mut parked = Vec::new();
    if remaining == 0 {
        return Ok(parked);
    }
    consumer.assign(&list)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while remaining > 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{remaining} dead-lettered records could not be read"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.context("cannot read the dead-letter topic")?;
        let header = |name: &str| {
            message.headers().and_then(|hs| {
                hs.iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
        };
        parked.push(Parked {
            dlq_partition: message.partition(),
            dlq_offset: message.offset(),
            reason: header(dlq::REASON).unwrap_or_default(),
            source_partition: header(dlq::SOURCE_PARTITION).and_then(|v| v.parse().ok()),
            source_offset: header(dlq::SOURCE_OFFSET).and_then(|v| v.parse().ok()),
            key: message.key().unwrap_or_default().to_vec(),
            payload: message.payload().unwrap_or_default().to_vec(),
            proof: header(PROOF_HEADER),
        });
        remaining -= 1;
    }
    Ok(parked)
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Decoded now and applied for the first time.
    pub applied: usize,
    /// Decoded, but applied before (by an earlier replay): nothing changed.
    pub already_applied: usize,
    /// Still undecodable: left parked, with today's reason.
    pub still_parked: Vec<(i64, String)>,
}

/// Applies every parked record that decodes now to the read models behind `pool`; an admin
/// record only with a valid proof of origin ([`Proofs`]).
pub async fn replay(
    pool: &PgPool,
    topic: &str,
    parked: &[Parked],
    proofs: &Proofs,
) -> anyhow::Result<Replay> {
    let mut report = Replay::default();
    let mut events = Vec::new();
    let decoded = opening::open(parked.iter().map(|p| p.payload.as_slice()), pool)
        .await
        .context("cannot read the keys of sealed records")?;
    for (p, event) in parked.iter().zip(decoded) {
        let origin = Origin {
            at: p.source_partition.zip(p.source_offset),
            key: &p.key,
            value: &p.payload,
            proof: p.proof.as_deref(),
        };
        let event = event.map_err(|e| e.to_string()).and_then(|event| {
            match proofs.check_origin(&origin, &event) {
                Ok(()) => Ok(event),
                Err(unproven) => Err(unproven.to_string()),
            }
        });
        match event {
            Ok(event) => events.push(Applied {
                partition: p.source_partition.unwrap_or(-1),
                offset: p.source_offset.unwrap_or(-1),
                event,
            }),
            Err(reason) => report.still_parked.push((p.dlq_offset, reason)),
        }
    }
    if !events.is_empty() {
        // No offsets move: these records were passed over long ago.
        let outcome = store::apply_batch(pool, topic, &events, &[])
            .await
            .context("cannot apply the replayed records")?;
        report.applied = outcome.applied;
        report.already_applied = outcome.duplicates;
    }
    Ok(report)
}
