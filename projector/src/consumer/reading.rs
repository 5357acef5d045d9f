//! The Kafka side of consuming: a consumer that never joins a group, the topic's partitions,
//! an assignment at the stored offsets, and batches.

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;

use crate::config::ProjectorConfig;
use crate::proofs::Proofs;
use crate::store;

/// A consumer that never commits and never joins a group: partitions are assigned by hand.
pub fn consumer(config: &ProjectorConfig, group: &str) -> anyhow::Result<StreamConsumer> {
    config
        .kafka
        .client_config()
        // Required by librdkafka, never used for offsets or membership.
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", config.fetch_wait_max_ms.to_string())
        .create()
        .context("cannot create the Kafka consumer")
}

/// Where admin records must carry proofs ([`Proofs::load`]), noted at each partition's end now
/// for the partitions that have no note yet.
pub async fn load_proofs(config: &ProjectorConfig, meta: &PgPool) -> anyhow::Result<Proofs> {
    // librdkafka's calls block, and so may dropping its client: off the async threads.
    let reading = config.clone();
    let ends = tokio::task::spawn_blocking(move || partition_ends(&reading))
        .await
        .context("reading the partitions' ends panicked")??;
    let keys = config.admin_event_keys.clone();
    Ok(Proofs::load(meta, keys, &config.topic, &ends).await?)
}

/// Each partition of the topic with its end (high watermark) now.
fn partition_ends(config: &ProjectorConfig) -> anyhow::Result<Vec<(i32, i64)>> {
    let consumer: BaseConsumer = config
        .kafka
        .client_config()
        .set("group.id", "colloquy-proofs")
        .set("enable.auto.commit", "false")
        .create()
        .context("cannot create the Kafka consumer")?;
    partitions(config, &consumer)?
        .into_iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(&config.topic, p, Duration::from_secs(5))
                .context("cannot read the partitions' ends")?;
            Ok((p, high))
        })
        .collect()
}

/// The topic's partitions.
pub fn partitions(config: &ProjectorConfig, consumer: &impl Consumer) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(&config.topic), Duration::from_secs(5))
        .context("cannot fetch topic metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == config.topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    anyhow::ensure!(
        !partitions.is_empty(),
        "topic {} does not exist (run `projector setup`)",
        config.topic
    );
    Ok(partitions)
}

/// `partitions` of the topic, each at the stored offset or the beginning.
pub async fn assignment(
    config: &ProjectorConfig,
    pool: &PgPool,
    partitions: impl Iterator<Item = i32>,
) -> anyhow::Result<TopicPartitionList> {
    let stored = store::offsets::load(pool, &config.topic)
        .await
        .context("cannot read stored offsets")?;
    let mut list = TopicPartitionList::new();
    for p in partitions {
        let offset = stored
            .get(&p)
            .map_or(Offset::Beginning, |o| Offset::Offset(*o));
        list.add_partition_offset(&config.topic, p, offset)?;
    }
    Ok(list)
}

/// Waits up to `first` for one record (an empty batch when none came), then gathers more until
/// the batch is full or its latency is up.
pub async fn next_batch(
    consumer: &StreamConsumer,
    config: &ProjectorConfig,
    first: Duration,
) -> Vec<OwnedMessage> {
    let mut batch = Vec::with_capacity(config.batch_size.min(4096));
    let deadline = match tokio::time::timeout(first, consumer.recv()).await {
        Ok(Ok(m)) => {
            batch.push(m.detach());
            tokio::time::Instant::now() + Duration::from_millis(config.batch_max_latency_ms)
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "consume error");
            tokio::time::sleep(Duration::from_millis(200)).await;
            return batch;
        }
        Err(_quiet) => return batch,
    };
    while batch.len() < config.batch_size {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(m.detach()),
            Ok(Err(error)) => tracing::warn!(%error, "consume error"),
            Err(_elapsed) => break,
        }
    }
    batch
}
