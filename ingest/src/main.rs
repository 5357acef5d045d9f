//! The ingest binary: read config, connect the producer, serve until SIGINT/SIGTERM, flush.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ingest::IngestConfig;
use runtime::config::Env;
use runtime::kafka::KafkaSink;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::telemetry::init();
    let config = IngestConfig::from_source(&Env).context("invalid configuration")?;
    let sink = Arc::new(
        KafkaSink::new(&config.kafka, &config.producer)
            .context("cannot create the Kafka producer")?,
    );
    let app = ingest::build(&config, sink.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %app.local_addr(), topic = %config.producer.topic, "ingest listening");
    app.run_until_stopped(runtime::shutdown::signal()).await?;
    // Every request already awaited its own delivery reports; this only covers stragglers.
    sink.flush(Duration::from_secs(10));
    Ok(())
}
