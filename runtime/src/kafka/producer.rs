//! A producer whose deliveries resolve futures, served by a polling thread that sleeps while
//! nothing happens.
//!
//! rdkafka's `FutureProducer` polls every 100 ms, and each poll ends in a busy loop for its last
//! millisecond (the remaining time is rounded down to whole milliseconds, to zero): a cost with
//! no traffic at all (docs/operations.md, "An idle stack"). Delivery reports wake the poll
//! whatever its timeout, so a long one delays nothing; it only bounds how long a dropped
//! producer's thread lives on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::channel::oneshot;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;

/// How long one poll waits for delivery reports. See the module's documentation.
const POLL: Duration = Duration::from_secs(5);

/// Where an acknowledged record went.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub partition: i32,
}

type Report = oneshot::Sender<Result<Delivered, KafkaError>>;

/// Hands each delivery report to the future of its record.
pub struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<Report>;

    fn delivery(&self, result: &DeliveryResult<'_>, report: Box<Report>) {
        let outcome = match result {
            Ok(message) => Ok(Delivered {
                partition: message.partition(),
            }),
            Err((error, _)) => Err(error.clone()),
        };
        // The request may have stopped waiting.
        let _ = report.send(outcome);
    }
}

/// A `BaseProducer` and its polling thread, which stops (and drops the producer, purging what
/// it still holds) within [`POLL`] of this being dropped.
pub struct QuietProducer {
    inner: Arc<BaseProducer<Deliveries>>,
    stop: Arc<AtomicBool>,
}

impl QuietProducer {
    pub fn new(client: &rdkafka::ClientConfig) -> Result<Self, KafkaError> {
        let inner: Arc<BaseProducer<Deliveries>> =
            Arc::new(client.create_with_context(Deliveries)?);
        let stop = Arc::new(AtomicBool::new(false));
        let (polled, stopped) = (inner.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kafka-deliveries".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    polled.poll(POLL);
                }
            })
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        Ok(Self { inner, stop })
    }

    /// Queues one record; the answer resolves with its delivery report. Fails at once when the
    /// local queue is full.
    pub fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<oneshot::Receiver<Result<Delivered, KafkaError>>, KafkaError> {
        let (report, answer) = oneshot::channel();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(report))
            .key(key)
            .payload(payload);
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        self.inner.send(record).map_err(|(error, _)| error)?;
        Ok(answer)
    }

    pub fn in_flight_count(&self) -> i32 {
        self.inner.in_flight_count()
    }

    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(Timeout::After(timeout))
    }

    pub fn client(&self) -> &rdkafka::client::Client<Deliveries> {
        self.inner.client()
    }
}

impl Drop for QuietProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
