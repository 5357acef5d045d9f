//! Dead-lettering: a refused record goes to the dead-letter topic as it was, with why and
//! where it came from in its headers.

use anyhow::Context as _;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use runtime::kafka::{EventSink, KafkaSink, Record};
use schemas::topics::PROOF_HEADER;
use schemas::topics::dead_letter_headers as dlq;

use crate::config::ProjectorConfig;

/// Sends `records` with their reasons to the dead-letter topic and waits for the broker.
pub(super) async fn dead_letter(
    config: &ProjectorConfig,
    dead_letters: &KafkaSink,
    records: &[(&OwnedMessage, &str)],
) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let records = records
        .iter()
        .map(|(m, reason)| dead_letter_record(&config.topic, m, reason))
        .collect();
    for result in dead_letters.send(records).await {
        result.context("cannot dead-letter a poison record")?;
    }
    Ok(())
}

/// The poison record as it was, with why and where it came from in headers.
fn dead_letter_record(source_topic: &str, m: &OwnedMessage, reason: &str) -> Record {
    tracing::warn!(partition = m.partition(), offset = m.offset(), %reason, "dead-lettering record");
    let key = m
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    let mut record = Record::new(key, m.payload().unwrap_or_default().to_vec());
    record.headers = vec![
        (dlq::REASON, reason.to_owned()),
        (dlq::SOURCE_TOPIC, source_topic.to_owned()),
        (dlq::SOURCE_PARTITION, m.partition().to_string()),
        (dlq::SOURCE_OFFSET, m.offset().to_string()),
    ];
    // A replay checks an admin record's proof as the projector did.
    if let Some(proof) = crate::proofs::proof_of(m) {
        record.headers.push((PROOF_HEADER, proof.to_owned()));
    }
    record
}
