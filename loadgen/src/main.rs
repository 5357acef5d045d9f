//! `loadgen`: realistic chat-widget traffic for benchmarks (see [`traffic`] for the model).
//! `loadgen --help` and `loadgen COMMAND --help` list the commands and their options.
//!
//! `http` sends the traffic to ingest, closed-loop (`--concurrency`) or open-loop (`--rate`),
//! and with `--probe` (open loop) measures how long acknowledged events take to be visible
//! through query-api; `query` times query-api's list, search and statistics reads;
//! `produce` writes the records ingest would write for it straight to the broker
//! (`KAFKA_BROKERS`, topic `KAFKA_TOPIC`, unless the options say otherwise) with a plain
//! producer (the ceiling ingest is measured against; with `--history-days` the events are
//! spread over past days, for a dataset); `websites` prints the `INGEST_WEBSITES` value that
//! makes ingest accept the generated websites; `report` puts the measurements `deploy/dev
//! bench` left in DIR into `report.json` and `report.md`; `bench` runs the benchmark's phases
//! ([`bench`]) on the Postgres and broker `deploy/dev bench` started, and writes that report;
//! `costs` times the country lookup and the language detection per event ([`costs`]).
//! Results are one JSON object on stdout (the report prints its Markdown).

mod bench;
mod client;
mod costs;
mod http;
mod produce;
mod query;
mod report;
mod traffic;
mod workers;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use runtime::config::Source as _;
use runtime::kafka::KafkaConfig;

/// Realistic chat-widget traffic for benchmarks, to ingest over HTTP or straight to the broker,
/// and the benchmark's phases and report.
#[derive(Parser)]
#[command(
    name = "loadgen",
    version = runtime::cli::version(env!("CARGO_PKG_VERSION")),
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The generated websites and the traffic's random seed.
#[derive(Args)]
struct Model {
    /// Websites the traffic is spread over
    #[arg(long, default_value_t = 50)]
    websites: usize,
    /// The traffic's random seed: the same seed, the same traffic
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Send the traffic to ingest, open-loop (--rate) or closed-loop (--concurrency), and with
    /// --probe measure how soon acknowledged events are visible through query-api
    Http {
        /// Ingest's base URL
        #[arg(long)]
        url: String,
        /// Events per request
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Open loop: events per second
        #[arg(
            long,
            conflicts_with = "concurrency",
            required_unless_present = "concurrency"
        )]
        rate: Option<f64>,
        /// Closed loop: requests in flight
        #[arg(long)]
        concurrency: Option<usize>,
        /// Closed loop: events to send
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Open loop: seconds to send for
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds sent before measuring
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// query-api's base URL, to measure freshness through (open loop only)
        #[arg(long, requires = "rate")]
        probe: Option<String>,
        /// query-api's admin token (ADMIN_TOKEN, as query-api reads it, when absent)
        #[arg(long)]
        token: Option<String>,
        /// Freshness probes per second
        #[arg(long, default_value_t = 5.0)]
        probes_per_s: f64,
        #[command(flatten)]
        model: Model,
    },
    /// Time query-api's list, search and statistics reads
    Query {
        /// query-api's base URL
        #[arg(long)]
        url: String,
        /// query-api's admin token (ADMIN_TOKEN when absent)
        #[arg(long)]
        token: Option<String>,
        /// Requests to time
        #[arg(long, default_value_t = 500)]
        requests: usize,
        /// Requests in flight
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[command(flatten)]
        model: Model,
    },
    /// Write the records ingest would write straight to the broker (KAFKA_BROKERS and
    /// KAFKA_TOPIC unless given): the ceiling ingest is measured against
    Produce {
        /// Events to produce
        #[arg(long)]
        events: usize,
        /// The broker (KAFKA_BROKERS when absent)
        #[arg(long)]
        brokers: Option<String>,
        /// The topic (KAFKA_TOPIC when absent)
        #[arg(long)]
        topic: Option<String>,
        /// Records per produce call
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// Spread the events over this many past days, for a dataset
        #[arg(long)]
        history_days: Option<u32>,
        #[command(flatten)]
        model: Model,
    },
    /// Print the INGEST_WEBSITES value that makes ingest accept the generated websites
    Websites {
        /// Websites the traffic is spread over
        #[arg(long, default_value_t = 50)]
        websites: usize,
    },
    /// Put the measurements deploy/dev bench left in DIR into report.json and report.md
    Report {
        /// The benchmark's output folder
        #[arg(long)]
        dir: PathBuf,
    },
    /// Run the benchmark's phases on the Postgres and broker deploy/dev bench started, and
    /// write the report
    Bench {
        /// Where the service binaries are
        #[arg(long)]
        bin: PathBuf,
        /// The benchmark's data folder
        #[arg(long)]
        dir: PathBuf,
        /// Where the report goes
        #[arg(long)]
        out: PathBuf,
        /// The benchmark Postgres's data directory
        #[arg(long)]
        pgdata: PathBuf,
        /// The broker's process id, for its CPU time
        #[arg(long)]
        broker_pid: u32,
        /// How much of the benchmark runs
        #[arg(long, value_enum, default_value_t = Form::Full)]
        form: Form,
    },
    /// Time the country lookup and the language detection per event
    Costs {
        /// The MMDB country database
        #[arg(long)]
        country_db: PathBuf,
        /// Country lookups to time
        #[arg(long, default_value_t = 1_000_000)]
        lookups: u64,
        /// Messages to detect the language of
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
    },
}

/// How much of the benchmark runs.
#[derive(Clone, Copy, ValueEnum)]
enum Form {
    /// Every phase at full size
    Full,
    /// Every phase, small: what the test command runs
    Quick,
    /// Only the reads, at full size
    Reads,
    /// A rebuild of the last full run's dataset, beside its ceiling
    Rebuild,
}

/// Query-api's admin token: `--token`, else `ADMIN_TOKEN` as query-api reads it.
fn token(given: Option<String>) -> String {
    given.unwrap_or_else(|| runtime::config::Env.string_or("ADMIN_TOKEN", "dev-admin-token"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::cli::record_commit(option_env!("COLLOQUY_COMMIT"));
    let report = match Cli::parse().command {
        Command::Http {
            url,
            batch,
            rate,
            concurrency,
            events,
            duration,
            warmup,
            probe,
            token: given,
            probes_per_s,
            model,
        } => {
            let mode = match (rate, concurrency) {
                (Some(events_per_s), _) => http::Mode::Open { events_per_s },
                (None, concurrency) => http::Mode::Closed {
                    concurrency: concurrency.unwrap_or(1),
                    events,
                },
            };
            let load = http::Load {
                url,
                batch,
                mode,
                duration: Duration::from_secs_f64(duration),
                warmup: Duration::from_secs_f64(warmup),
                websites: model.websites,
                seed: model.seed,
                probe: probe.map(|url| http::Probe {
                    url,
                    token: token(given),
                    per_s: probes_per_s,
                }),
            };
            serde_json::to_value(http::run(&load).await?)?
        }
        Command::Query {
            url,
            token: given,
            requests,
            concurrency,
            model,
        } => {
            let queries = query::Queries {
                url,
                token: token(given),
                requests,
                concurrency,
                websites: traffic::websites(model.websites),
                seed: model.seed,
            };
            serde_json::to_value(query::run(&queries).await?)?
        }
        Command::Produce {
            events,
            brokers,
            topic,
            batch,
            history_days,
            model,
        } => {
            anyhow::ensure!(events > 0, "--events must be more than 0");
            // KAFKA_BROKERS and KAFKA_PROPERTIES as the services read them; --brokers wins.
            let mut kafka = KafkaConfig::from_source(&runtime::config::Env)?;
            if let Some(brokers) = brokers {
                kafka.brokers = brokers;
            }
            let topic = topic
                .unwrap_or_else(|| runtime::config::Env.string_or("KAFKA_TOPIC", "chat-events"));
            let mut traffic = traffic::Traffic::new(
                model.seed,
                traffic::websites(model.websites),
                traffic::Shares::default(),
            );
            if let Some(days) = history_days {
                traffic = traffic.with_history(chrono::Utc::now(), days);
            }
            let produced = tokio::task::spawn_blocking(move || {
                let produced =
                    produce::produce_traffic(&kafka, &topic, &mut traffic, events, batch);
                produced.map(|p| (p, traffic.conversations()))
            })
            .await??;
            let mut value = serde_json::to_value(produced.0)?;
            value["conversations"] = produced.1.into();
            value
        }
        Command::Report { dir } => serde_json::Value::String(report::write(&dir)?),
        Command::Bench {
            bin,
            dir,
            out,
            pgdata,
            broker_pid,
            form,
        } => {
            let (sizes, part) = match form {
                Form::Full => (bench::Sizes::FULL, bench::Part::Everything),
                Form::Quick => (bench::Sizes::QUICK, bench::Part::Everything),
                Form::Reads => (bench::Sizes::FULL, bench::Part::Reads),
                Form::Rebuild => (bench::Sizes::FULL, bench::Part::Rebuild),
            };
            let run = bench::Bench {
                sizes,
                part,
                bin,
                dir,
                out,
                pgdata,
                broker_pid,
            };
            bench::run(&run).await?;
            serde_json::Value::String(report::write(&run.out)?)
        }
        Command::Costs {
            country_db,
            lookups,
            messages,
        } => serde_json::to_value(costs::measure(&country_db, lookups, messages)?)?,
        Command::Websites { websites } => {
            serde_json::Value::String(traffic::ingest_websites(websites))
        }
    };
    let mut out = std::io::stdout().lock();
    match report {
        serde_json::Value::String(s) => writeln!(out, "{s}")?,
        other => writeln!(out, "{}", serde_json::to_string_pretty(&other)?)?,
    }
    Ok(())
}
