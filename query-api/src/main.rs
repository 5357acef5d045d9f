//! The query-api binary: read config, open the pool, serve until SIGINT/SIGTERM.

use anyhow::Context;
use query_api::QueryApiConfig;
use runtime::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::telemetry::init();
    let config = QueryApiConfig::from_source(&Env).context("invalid configuration")?;
    let pool = config
        .postgres
        .lazy_pool()
        .context("invalid DATABASE_URL")?;
    let app = query_api::build(&config, pool)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %app.local_addr(), "query-api listening");
    app.run_until_stopped(runtime::shutdown::signal()).await?;
    Ok(())
}
