//! `loadgen`: realistic chat-widget traffic for benchmarks (see [`traffic`] for the model).
//!
//! ```text
//! loadgen http     --url URL [--batch N] (--rate EVENTS_PER_S [--duration S] | --concurrency N
//!                  [--events N]) [--warmup S] [--websites N] [--seed N]
//!                  [--probe QUERY_API_URL [--token T] [--probes-per-s N]]
//! loadgen query    --url QUERY_API_URL [--token T] [--requests N] [--concurrency N]
//!                  [--websites N] [--seed N]
//! loadgen produce  --events N [--brokers HOST:PORT] [--topic T] [--batch N] [--websites N]
//!                  [--seed N] [--history-days D]
//! loadgen websites [--websites N]
//! loadgen report   --dir DIR
//! loadgen bench    --bin DIR --dir DIR --out DIR --pgdata DIR --broker-pid PID
//!                  [--form full|quick|reads]
//! loadgen costs    --country-db FILE [--lookups N] [--messages N]
//! ```
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

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use runtime::config::Source as _;
use runtime::kafka::KafkaConfig;

const USAGE: &str = "usage: loadgen http --url URL [--batch N] (--rate EVENTS_PER_S [--duration S] | --concurrency N [--events N]) [--warmup S] [--websites N] [--seed N] [--probe QUERY_API_URL [--token T] [--probes-per-s N]]
       loadgen query --url QUERY_API_URL [--token T] [--requests N] [--concurrency N] [--websites N] [--seed N]
       loadgen produce --events N [--brokers HOST:PORT] [--topic T] [--batch N] [--websites N] [--seed N] [--history-days D]
       loadgen websites [--websites N]
       loadgen report --dir DIR
       loadgen bench --bin DIR --dir DIR --out DIR --pgdata DIR --broker-pid PID [--form full|quick|reads]
       loadgen costs --country-db FILE [--lookups N] [--messages N]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let options = Options::parse(args)?;
    let websites = options.number("websites", 50)?;
    let seed = options.number("seed", 1)?;
    let report = match command.as_str() {
        "http" => {
            options.only(&[
                "url",
                "batch",
                "rate",
                "concurrency",
                "events",
                "duration",
                "warmup",
                "websites",
                "seed",
                "probe",
                "token",
                "probes-per-s",
            ])?;
            let mode = match (options.get("rate"), options.get("concurrency")) {
                (Some(_), None) => http::Mode::Open {
                    events_per_s: options.number("rate", 0.0)?,
                },
                (None, Some(_)) => http::Mode::Closed {
                    concurrency: options.number("concurrency", 1)?,
                    events: options.number("events", 200_000)?,
                },
                _ => {
                    bail!("give either --rate (open loop) or --concurrency (closed loop)\n{USAGE}")
                }
            };
            let load = http::Load {
                url: options.get("url").context("--url is required")?.to_owned(),
                batch: options.number("batch", 1)?,
                mode,
                duration: Duration::from_secs_f64(options.number("duration", 10.0)?),
                warmup: Duration::from_secs_f64(options.number("warmup", 1.0)?),
                websites,
                seed,
                probe: match options.get("probe") {
                    Some(url) => Some(http::Probe {
                        url: url.to_owned(),
                        token: options.token(),
                        per_s: options.number("probes-per-s", 5.0)?,
                    }),
                    None => None,
                },
            };
            anyhow::ensure!(
                load.probe.is_none() || matches!(load.mode, http::Mode::Open { .. }),
                "--probe needs an open loop (--rate): freshness is measured at a given load"
            );
            serde_json::to_value(http::run(&load).await?)?
        }
        "query" => {
            options.only(&[
                "url",
                "token",
                "requests",
                "concurrency",
                "websites",
                "seed",
            ])?;
            let queries = query::Queries {
                url: options.get("url").context("--url is required")?.to_owned(),
                token: options.token(),
                requests: options.number("requests", 500)?,
                concurrency: options.number("concurrency", 1)?,
                websites: traffic::websites(websites),
                seed,
            };
            serde_json::to_value(query::run(&queries).await?)?
        }
        "produce" => {
            options.only(&[
                "events",
                "brokers",
                "topic",
                "batch",
                "websites",
                "seed",
                "history-days",
            ])?;
            let events: usize = options.number("events", 0)?;
            anyhow::ensure!(events > 0, "--events N is required\n{USAGE}");
            // KAFKA_BROKERS and KAFKA_PROPERTIES as the services read them; --brokers wins.
            let mut kafka = KafkaConfig::from_source(&runtime::config::Env)?;
            if let Some(brokers) = options.get("brokers") {
                kafka.brokers = brokers.to_owned();
            }
            let topic = match options.get("topic") {
                Some(topic) => topic.to_owned(),
                None => runtime::config::Env.string_or("KAFKA_TOPIC", "chat-events"),
            };
            let batch = options.number("batch", 50)?;
            let mut traffic = traffic::Traffic::new(
                seed,
                traffic::websites(websites),
                traffic::Shares::default(),
            );
            if let Some(days) = options.get("history-days") {
                let days = days.parse().context("--history-days")?;
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
        "report" => {
            options.only(&["dir"])?;
            let dir = options.get("dir").context("--dir is required")?;
            serde_json::Value::String(report::write(std::path::Path::new(dir))?)
        }
        "bench" => {
            options.only(&["bin", "dir", "out", "pgdata", "broker-pid", "form"])?;
            let path = |name: &str| -> anyhow::Result<std::path::PathBuf> {
                Ok(options
                    .get(name)
                    .with_context(|| format!("--{name} is required\n{USAGE}"))?
                    .into())
            };
            let (sizes, reads_only) = match options.get("form").unwrap_or("full") {
                "full" => (bench::Sizes::FULL, false),
                "quick" => (bench::Sizes::QUICK, false),
                "reads" => (bench::Sizes::FULL, true),
                other => bail!("--form {other:?}: full, quick or reads\n{USAGE}"),
            };
            let run = bench::Bench {
                sizes,
                reads_only,
                bin: path("bin")?,
                dir: path("dir")?,
                out: path("out")?,
                pgdata: path("pgdata")?,
                broker_pid: options.number("broker-pid", 0)?,
            };
            bench::run(&run).await?;
            serde_json::Value::String(report::write(&run.out)?)
        }
        "costs" => {
            options.only(&["country-db", "lookups", "messages"])?;
            let db = options
                .get("country-db")
                .context("costs needs --country-db")?
                .to_owned();
            let costs = costs::measure(
                std::path::Path::new(&db),
                options.number("lookups", 1_000_000)?,
                options.number("messages", 100_000)?,
            )?;
            serde_json::to_value(costs)?
        }
        "websites" => {
            options.only(&["websites"])?;
            serde_json::Value::String(traffic::ingest_websites(websites))
        }
        _ => bail!("{USAGE}"),
    };
    let mut out = std::io::stdout().lock();
    match report {
        serde_json::Value::String(s) => writeln!(out, "{s}")?,
        other => writeln!(out, "{}", serde_json::to_string_pretty(&other)?)?,
    }
    Ok(())
}

/// `--name value` pairs.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut options = HashMap::new();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument {arg:?}\n{USAGE}");
            };
            let value = args
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            options.insert(name.to_owned(), value);
        }
        Ok(Self(options))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| anyhow::anyhow!("--{name} {raw:?}: {e}")),
        }
    }

    /// Query-api's admin token: `--token`, else `ADMIN_TOKEN` as query-api reads it.
    fn token(&self) -> String {
        match self.get("token") {
            Some(token) => token.to_owned(),
            None => runtime::config::Env.string_or("ADMIN_TOKEN", "dev-admin-token"),
        }
    }

    /// Fails on any option not in `known`.
    fn only(&self, known: &[&str]) -> anyhow::Result<()> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => bail!("unknown option --{unknown}\n{USAGE}"),
            None => Ok(()),
        }
    }
}
