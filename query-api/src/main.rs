//! The query-api binary: read config, open the pool and the producer, serve until
//! SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use query_api::QueryApiConfig;
use runtime::config::Env;
use runtime::kafka::KafkaSink;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::telemetry::init();
    let config = QueryApiConfig::from_source(&Env).context("invalid configuration")?;
    // Reads follow the live version of the read models: a rebuild's switch reaches every new
    // query within a poll interval.
    let meta = config
        .postgres
        .lazy_pool()
        .context("invalid DATABASE_URL")?;
    let schema = runtime::read_models::live_schema(&meta)
        .await
        .unwrap_or_else(|_| "public".to_owned());
    let live = runtime::read_models::LiveSchema::new(&schema);
    live.spawn_watch(meta, std::time::Duration::from_millis(500));
    let pool = runtime::read_models::following_pool(&config.postgres, live)
        .context("invalid DATABASE_URL")?;
    let sink = KafkaSink::new(&config.kafka, &config.producer).context("invalid Kafka settings")?;
    let sink = Arc::new(sink);
    let app = query_api::build(&config, pool, sink.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %app.local_addr(), "query-api listening");
    app.run_until_stopped(runtime::shutdown::signal()).await?;
    sink.flush(std::time::Duration::from_secs(5));
    Ok(())
}
