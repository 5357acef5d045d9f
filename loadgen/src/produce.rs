//! The ceiling for ingest: a plain rdkafka producer writing the records ingest would write
//! for the same traffic, with ingest's producer settings, as fast as the broker takes them.
//!
//! The records are built before the clock starts (through ingest's own enrichment, so they
//! are the same bytes, keys and sizes), and produced through librdkafka's base producer with a
//! delivery callback: nothing per record but the enqueue and the acknowledgement.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use ingest::enrich::{RequestContext, enrich};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use runtime::kafka::{KafkaConfig, ProducerConfig, Record, producer_client_config};
use serde::Serialize;

use crate::traffic::{Rng, Traffic};

const COUNTRIES: [Option<&str>; 8] = [
    Some("US"),
    Some("US"),
    Some("DE"),
    Some("FR"),
    Some("IN"),
    Some("BR"),
    Some("GB"),
    None,
];

/// Builds the records (keyed by conversation, as ingest writes them) of the next `count` events, `batch` events per simulated request.
pub fn records(traffic: &mut Traffic, count: usize, batch: usize) -> anyhow::Result<Vec<Record>> {
    let mut rng = Rng::new(0x5eed);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let request = traffic.next_request(batch.min(count - out.len()));
        let website = &traffic.websites()[request.website];
        let context = RequestContext {
            website_id: website.id.clone(),
            received_at: Utc::now(),
            ip: Some(IpAddr::V4(Ipv4Addr::from(
                0x0a00_0000 | (rng.next_u64() as u32 & 0x00ff_ffff),
            ))),
            user_agent: None,
            from_browser: true,
            anonymize_ip: false,
            // Private addresses place no one: the model names countries itself, a few of
            // them busy and the rest unplaced, as a breakdown by country sees real traffic.
            country: COUNTRIES[rng.next_u64() as usize % COUNTRIES.len()].map(str::to_owned),
            opted_out: false,
            visitor_salt: [7; 32],
            // The traffic model writes history on purpose (days spread back): believe it.
            max_event_age: chrono::Duration::days(365 * 100),
        };
        for value in request.events {
            let incoming = schemas::IncomingEvent::parse(value)
                .map_err(|e| anyhow::anyhow!("the traffic model made an invalid event: {e}"))?;
            let event = enrich(incoming, None, &context);
            let value = event.encode().context("cannot encode an event")?;
            out.push(Record::new(event.conversation_id.clone(), value));
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct Produced {
    pub records: u64,
    pub bytes: u64,
    pub failed: u64,
    pub seconds: f64,
    pub records_per_s: f64,
    pub megabytes_per_s: f64,
}

struct Counting {
    acknowledged: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.acknowledged.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Produces `count` events of `traffic` in chunks: each chunk's records are built, then
/// produced with the clock running. Only producing is timed.
pub fn produce_traffic(
    kafka: &KafkaConfig,
    topic: &str,
    traffic: &mut Traffic,
    count: usize,
    batch: usize,
) -> anyhow::Result<Produced> {
    const CHUNK: usize = 250_000;
    let mut total = Produced::default();
    let mut left = count;
    while left > 0 {
        let chunk = records(traffic, left.min(CHUNK), batch)?;
        left -= chunk.len();
        let part = produce(kafka, topic, &chunk)?;
        total.records += part.records;
        total.bytes += part.bytes;
        total.failed += part.failed;
        total.seconds += part.seconds;
    }
    total.records_per_s = total.records as f64 / total.seconds.max(1e-9);
    total.megabytes_per_s = total.bytes as f64 / total.seconds.max(1e-9) / 1e6;
    Ok(total)
}

/// Produces every record and waits until each is acknowledged or failed.
pub fn produce(kafka: &KafkaConfig, topic: &str, records: &[Record]) -> anyhow::Result<Produced> {
    // Ingest's settings, but for the delivery timeout: ingest holds at most a request's
    // records in flight, while this queues a hundred thousand at once, and those at the back of
    // the queue wait longer than ingest's 5 s for their turn (all would fail).
    let settings = ProducerConfig {
        delivery_timeout_ms: 300_000,
        ..ProducerConfig::new(topic)
    };
    let counting = Counting {
        acknowledged: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    };
    let producer: ThreadedProducer<Counting> = producer_client_config(kafka, &settings)
        .create_with_context(counting)
        .context("cannot create the producer")?;
    let started = Instant::now();
    for record in records {
        let mut base = BaseRecord::to(topic)
            .key(&record.key)
            .payload(&record.value);
        loop {
            match producer.send(base) {
                Ok(()) => break,
                // The local queue is full: let deliveries drain it.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    base = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(error).context("cannot produce"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("records still unacknowledged after 60 s")?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes: u64 = records.iter().map(|r| r.value.len() as u64).sum();
    let context = producer.context();
    let acknowledged = context.acknowledged.load(Ordering::Relaxed);
    let failed = context.failed.load(Ordering::Relaxed);
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} records were not acknowledged: the ceiling would be wrong",
        records.len()
    );
    Ok(Produced {
        records: acknowledged,
        bytes,
        failed,
        seconds,
        records_per_s: acknowledged as f64 / seconds,
        megabytes_per_s: bytes as f64 / seconds / 1e6,
    })
}
