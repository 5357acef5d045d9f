//! The ingest binary: read config, connect the producer, serve until SIGINT/SIGTERM, flush.
//! `ingest healthcheck` asks a running one for its readiness (a container's health check).
//! `ingest --help` lists every setting (docs/configuration.md).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ingest::IngestConfig;
use ingest::config::SinkKind;
use runtime::config::Env;
use runtime::kafka::{CountingSink, KafkaSink};

/// Every request allocates and frees hundreds of small strings and maps; glibc's allocator
/// spent a fifth of ingest's CPU on them (`perf` under `loadgen`), mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Colloquy's ingest: takes chat-widget and bot events over HTTP (its own API, the legacy
/// routes and Segment's) and answers once the broker acknowledged them.
#[derive(Parser)]
#[command(
    name = "ingest",
    version = runtime::cli::version(env!("CARGO_PKG_VERSION")),
    propagate_version = true,
    after_help = runtime::cli::settings_help(SETTINGS, "ingest"),
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve until SIGINT or SIGTERM (the default)
    Serve,
    /// Ask the ingest on INGEST_ADDR for its readiness: exit 0 when ready (a container's
    /// health check)
    Healthcheck,
}

const SETTINGS: &str = include_str!("../../docs/configuration.md");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::cli::record_commit(option_env!("COLLOQUY_COMMIT"));
    // Before anything else: `--help`, `--version` and a wrong argument end here.
    let cli = Cli::parse();
    runtime::telemetry::init();
    let config = IngestConfig::from_source(&Env).context("invalid configuration")?;
    if let Some(Command::Healthcheck) = cli.command {
        runtime::http::healthcheck(config.addr, "/_readiness");
    }
    match config.sink {
        SinkKind::Kafka => {
            let sink = Arc::new(
                KafkaSink::new(&config.kafka, &config.producer)
                    .context("cannot create the Kafka producer")?,
            );
            serve(&config, sink.clone()).await?;
            // Every request already awaited its own delivery reports; this only covers
            // stragglers.
            sink.flush(Duration::from_secs(10));
        }
        SinkKind::Memory => {
            tracing::warn!("INGEST_SINK=memory: events are acknowledged and thrown away");
            let sink = Arc::new(CountingSink::default());
            serve(&config, sink.clone()).await?;
            tracing::info!(events = sink.records(), "events counted and discarded");
        }
    }
    Ok(())
}

async fn serve(
    config: &IngestConfig,
    sink: Arc<dyn runtime::kafka::EventSink>,
) -> anyhow::Result<()> {
    let app = ingest::build(config, sink)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %app.local_addr(), topic = %config.producer.topic, "ingest listening");
    app.run_until_stopped(runtime::shutdown::signal()).await?;
    Ok(())
}
