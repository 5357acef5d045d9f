//! The query-api binary: read config, open the pool and the producer, serve until
//! SIGINT/SIGTERM. `query-api healthcheck` asks a running one for its readiness (a container's
//! health check).

use std::sync::Arc;

use anyhow::Context;
use query_api::QueryApiConfig;
use runtime::config::Env;
use runtime::kafka::KafkaSink;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::telemetry::init();
    let config = QueryApiConfig::from_source(&Env).context("invalid configuration")?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        runtime::http::healthcheck(config.addr, "/_readiness");
    }
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
