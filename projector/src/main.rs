//! The projector binary.
//!
//! - `projector` or `projector run`: migrate the live read models, then consume until
//!   SIGINT/SIGTERM, following rebuilds.
//! - `projector migrate`: apply the read-model migrations to the live version and exit.
//! - `projector setup`: create the topics (if missing), migrate, and exit.
//! - `projector rebuild`: build the next version of every read model from the beginning of the
//!   topic, verify it against the live one, and switch to it.
//! - `projector versions`: list the read-model versions.
//! - `projector leases`: which process and worker holds each partition of the topic.
//! - `projector healthcheck`: asks a running projector for its readiness (a container's
//!   health check).
//! - `projector drop-version N`: remove a version that is not live.
//! - `projector consume-rate`: read the whole topic and do nothing (the broker's raw rate, for
//!   comparing a rebuild with).
//! - `projector dlq list`: the records parked in the dead-letter topic, with their reasons.
//! - `projector dlq replay`: apply the parked records that decode now (after a fix), once.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use projector::ProjectorConfig;
use projector::consumer::{self, Health};
use projector::store::MIGRATOR;
use projector::versions;
use runtime::config::Env;
use runtime::http::HttpServer;

/// Decoding and folding a batch allocates and frees many small strings and maps: malloc and
/// free were about a quarter of the projector's samples (`perf` while draining a backlog).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Colloquy's projector: applies the event topic to the Postgres read models exactly once, and
/// rebuilds any version of them from the topic.
#[derive(Parser)]
#[command(
    name = "projector",
    version = runtime::cli::version(env!("CARGO_PKG_VERSION")),
    propagate_version = true,
    after_help = runtime::cli::settings_help(SETTINGS, "projector"),
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the live read models, then consume until SIGINT or SIGTERM, following
    /// rebuilds (the default)
    Run,
    /// Apply the read-model migrations to the live version and exit
    Migrate,
    /// Create the topics if missing (KAFKA_TOPIC_PARTITIONS), migrate, and exit
    Setup,
    /// Build the next version of every read model from the start of the topic, verify it
    /// against the live one, and switch to it (docs/operations.md)
    Rebuild,
    /// List the read-model versions
    Versions,
    /// Which process and worker holds each partition of the topic
    Leases,
    /// Ask the projector on PROJECTOR_ADDR for its readiness: exit 0 when ready (a container's
    /// health check)
    Healthcheck,
    /// Remove a read-model version that is not live
    DropVersion {
        /// The version, as `versions` lists it
        #[arg(value_name = "VERSION")]
        number: i32,
    },
    /// Read the whole topic and do nothing: the broker's raw rate, to compare a rebuild with
    ConsumeRate,
    /// The dead-letter topic (KAFKA_DLQ_TOPIC)
    Dlq {
        #[command(subcommand)]
        command: Dlq,
    },
}

#[derive(Subcommand)]
enum Dlq {
    /// The parked records, with their reasons
    List,
    /// Apply the parked records that decode now (after a fix), once
    Replay,
}

const SETTINGS: &str = include_str!("../../docs/configuration.md");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::cli::record_commit(option_env!("COLLOQUY_COMMIT"));
    // Before anything else: `--help`, `--version` and a wrong argument end here.
    let cli = Cli::parse();
    runtime::telemetry::init();
    let config = ProjectorConfig::from_source(&Env).context("invalid configuration")?;
    // On the default schema: the version metadata, and health.
    let meta = config
        .postgres
        .lazy_pool()
        .context("invalid DATABASE_URL")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Migrate => migrate(&config, &meta).await,
        Command::Healthcheck => runtime::http::healthcheck(config.addr, "/_readiness"),
        Command::Setup => {
            runtime::kafka::ensure_topics(
                &config.kafka,
                &[
                    (&config.topic, config.partitions),
                    (&config.dead_letter_topic, 1),
                ],
            )
            .await
            .with_context(|| format!("cannot create topics on {}", config.kafka.brokers))?;
            tracing::info!(topic = %config.topic, partitions = config.partitions, "topics ready");
            migrate(&config, &meta).await
        }
        Command::Run => {
            migrate(&config, &meta).await?;
            let health = Arc::new(Health::default());
            projector::metrics::spawn_lag_monitor(
                health.metrics.clone(),
                &config.kafka,
                config.topic.clone(),
                config.lag_interval,
            );
            let router = projector::health::router(health.clone(), meta.clone());
            let server = HttpServer::bind(config.addr, router)
                .await
                .with_context(|| format!("cannot listen on {}", config.addr))?;
            tracing::info!(addr = %server.local_addr(), "projector health endpoints listening");
            // Health answers until the process exits; only the consumer drains on shutdown.
            tokio::spawn(server.run_until_stopped(std::future::pending()));
            consumer::run(&config, meta, health, runtime::shutdown::signal()).await
        }
        Command::Rebuild => {
            let started = std::time::Instant::now();
            let rebuilt = projector::rebuild::rebuild(&config, &meta).await?;
            for check in &rebuilt.checks {
                let verdict = if !check.compared {
                    "new or changed projection, built from history"
                } else if check.equal {
                    "equal"
                } else {
                    "DIFFERENT"
                };
                eprintln!(
                    "  {:<26} {:>9} rows (live {:>9})  {verdict}",
                    check.table, check.new_rows, check.live_rows
                );
            }
            eprintln!(
                "version {} ({}) is live: {} records in {:.1}s, verified in {:.1}s",
                rebuilt.version,
                rebuilt.schema,
                rebuilt.events,
                started.elapsed().as_secs_f64(),
                rebuilt.verified_in.as_secs_f64()
            );
            Ok(())
        }
        Command::ConsumeRate => {
            let (records, seconds) = projector::rebuild::consume_rate(&config).await?;
            eprintln!(
                "read {records} records in {seconds:.1}s ({:.0}/s), doing nothing with them",
                records as f64 / seconds.max(0.001)
            );
            Ok(())
        }
        Command::Versions => {
            versions::ensure_meta(&meta).await?;
            print_versions(&versions::list(&meta).await?);
            Ok(())
        }
        Command::Leases => {
            versions::ensure_meta(&meta).await?;
            print_leases(&projector::leases::list(&meta, &config.topic).await?);
            Ok(())
        }
        Command::DropVersion { number: version } => {
            versions::ensure_meta(&meta).await?;
            versions::drop_version(&meta, version).await?;
            eprintln!("version {version} dropped");
            Ok(())
        }
        Command::Dlq { command } => {
            let parked = tokio::task::block_in_place(|| projector::dlq::read_all(&config))?;
            match command {
                Dlq::List => {
                    print_parked(&parked);
                    Ok(())
                }
                Dlq::Replay => {
                    versions::ensure_meta(&meta).await?;
                    let schema = runtime::read_models::live_schema(&meta).await?;
                    let pool = runtime::read_models::pool_for_schema(&config.postgres, &schema)?;
                    let proofs = projector::consumer::load_proofs(&config, &meta).await?;
                    let report =
                        projector::dlq::replay(&pool, &config.topic, &parked, &proofs).await?;
                    for (offset, reason) in &report.still_parked {
                        eprintln!("still parked: dead-letter offset {offset}: {reason}");
                    }
                    eprintln!(
                        "{} parked records: {} applied now, {} applied before, {} still parked",
                        parked.len(),
                        report.applied,
                        report.already_applied,
                        report.still_parked.len()
                    );
                    Ok(())
                }
            }
        }
    }
}

/// The listing is the command's output, so it goes to stdout.
#[allow(clippy::print_stdout)]
fn print_versions(list: &[versions::Version]) {
    for v in list {
        println!("{:>3}  {:<10} {}", v.version, v.schema_name, v.state);
    }
}

/// One line per partition: its holder (process and worker), the lease's epoch, and whether
/// it is current.
#[allow(clippy::print_stdout)]
fn print_leases(rows: &[projector::leases::LeaseRow]) {
    for row in rows {
        let holder = match (&row.name, row.owner_worker) {
            (Some(name), Some(worker)) => format!("{name} worker {worker}"),
            (None, Some(worker)) => format!("a departed process, worker {worker}"),
            _ => "free".to_owned(),
        };
        let state = if row.live || row.owner_worker.is_none() {
            ""
        } else {
            "  (expired)"
        };
        println!(
            "{:>4}  epoch {:>5}  {holder}{state}",
            row.partition, row.epoch
        );
    }
}

/// One line per parked record: where it is, where it came from, why, and how it starts.
#[allow(clippy::print_stdout)]
fn print_parked(parked: &[projector::dlq::Parked]) {
    for p in parked {
        let source = match (p.source_partition, p.source_offset) {
            (Some(partition), Some(offset)) => format!("{partition}/{offset}"),
            _ => "?".to_owned(),
        };
        let start: String = String::from_utf8_lossy(&p.payload)
            .chars()
            .take(80)
            .collect();
        println!(
            "{}/{}  from {source}  {}  {start}",
            p.dlq_partition, p.dlq_offset, p.reason
        );
    }
}

/// Applies the migrations to the live version.
async fn migrate(config: &ProjectorConfig, meta: &sqlx::PgPool) -> anyhow::Result<()> {
    versions::ensure_meta(meta)
        .await
        .context("cannot create the version metadata")?;
    let schema = runtime::read_models::live_schema(meta).await?;
    let pool = runtime::read_models::pool_for_schema(&config.postgres, &schema)?;
    MIGRATOR.run(&pool).await.context("migrations failed")?;
    if versions::record_if_fresh(meta, &schema).await? {
        tracing::info!(%schema, "a new version: every table is built by this code");
    }
    tracing::info!(%schema, "migrations applied");
    Ok(())
}
