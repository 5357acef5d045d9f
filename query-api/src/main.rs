//! The query-api binary: read config, open the pool and the producer, serve until
//! SIGINT/SIGTERM. `query-api healthcheck` asks a running one for its readiness (a container's
//! health check). `query-api --help` lists every setting (docs/configuration.md).

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use query_api::QueryApiConfig;
use runtime::config::Env;
use runtime::kafka::KafkaSink;

/// Colloquy's query API: admin views, statistics, exports, the live stream, the dashboard, the
/// weekly reports, retention and the webhook dispatcher, over the read models.
#[derive(Parser)]
#[command(
    name = "query-api",
    version = runtime::cli::version(env!("CARGO_PKG_VERSION")),
    propagate_version = true,
    after_help = runtime::cli::settings_help(SETTINGS, "query-api"),
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until SIGINT or SIGTERM (the default)
    Serve,
    /// Ask the query-api on QUERY_API_ADDR for its readiness: exit 0 when ready (a
    /// container's health check)
    Healthcheck,
}

const SETTINGS: &str = include_str!("../../docs/configuration.md");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::cli::record_commit(option_env!("COLLOQUY_COMMIT"));
    // Before anything else: `--help`, `--version` and a wrong argument end here.
    let cli = Cli::parse();
    runtime::telemetry::init();
    let config = QueryApiConfig::from_source(&Env).context("invalid configuration")?;
    if let Some(Command::Healthcheck) = cli.command {
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
    // A switch is announced; the poll covers an announcement lost with its connection.
    live.spawn_watch(meta, std::time::Duration::from_secs(10));
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
