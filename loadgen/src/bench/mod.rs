//! `loadgen bench`: the benchmark's phases, each with the CPU every process spent on it, into
//! the files [`crate::report`] turns into `report.md` and `report.json`. `deploy/dev bench`
//! installs, builds, starts Postgres and the broker, and calls this; the services are started
//! and stopped here, as each phase needs them.
//!
//! 1. ingest on an in-memory sink (batches, then single events): ingest's own cost;
//! 2. a plain producer writing the same records: the ceiling for ingest;
//! 3. ingest on Kafka, acknowledged;
//! 4. the projector reading the whole topic and doing nothing: the ceiling for the projector;
//! 5. the projector draining the backlog into Postgres;
//! 6. end to end, ingest while the projector applies;
//! 7. freshness at half the end-to-end rate, probing query-api;
//! 8. the read dataset topped up to its size, then query-api's reads and a whole export.
//!
//! With `reads` only the last phase runs again, on the dataset the last full run left. With
//! `rebuild`, on that dataset: the projector reading the whole topic and doing nothing, then
//! `projector rebuild` of every read model from it, with its parity check.

mod procs;
mod statements;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use crate::{http, produce, query, traffic};
use procs::{Daemon, Meter, Phase, Processes};

/// How much each phase does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Events of the throughput runs.
    pub events: usize,
    /// Single-event requests.
    pub single: usize,
    /// Events of the end-to-end run.
    pub e2e: usize,
    /// Conversations the reads run on (the earlier phases' count towards them).
    pub conversations: i64,
    /// Length of the freshness run.
    pub seconds: f64,
    /// Requests of each kind of read.
    pub requests: usize,
    /// The closed-loop runs leave their first seconds out (connections, caches).
    pub warmup: f64,
}

impl Sizes {
    pub const FULL: Sizes = Sizes {
        events: 1_000_000,
        single: 300_000,
        e2e: 300_000,
        conversations: 1_000_000,
        seconds: 30.0,
        requests: 500,
        warmup: 1.0,
    };

    /// Small enough for CI: it checks the command; its figures mean nothing.
    pub const QUICK: Sizes = Sizes {
        events: 20_000,
        single: 4_000,
        e2e: 4_000,
        conversations: 10_000,
        seconds: 5.0,
        requests: 50,
        warmup: 0.0,
    };
}

/// Which phases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every phase, building the dataset.
    Everything,
    /// The reads again, on the last full run's dataset.
    Reads,
    /// A rebuild of the last full run's dataset, beside its ceiling.
    Rebuild,
}

/// Where the stack is and where the results go.
pub struct Bench {
    pub sizes: Sizes,
    pub part: Part,
    /// The service binaries.
    pub bin: PathBuf,
    /// Logs and pid files.
    pub dir: PathBuf,
    /// The results.
    pub out: PathBuf,
    /// Postgres's data directory (for the postmaster's pid).
    pub pgdata: PathBuf,
    pub broker_pid: u32,
}

/// The addresses and credentials the services read from the environment.
struct Stack {
    ingest: String,
    query: String,
    projector: String,
    token: String,
    database: PgPool,
    brokers: String,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (deploy/dev bench sets it)"))
}

/// The websites the generated traffic uses, as ingest reads them.
const WEBSITES: usize = 50;

pub async fn run(bench: &Bench) -> anyhow::Result<()> {
    let stack = Stack {
        ingest: env("INGEST_ADDR")?,
        query: env("QUERY_API_ADDR")?,
        projector: env("PROJECTOR_ADDR")?,
        token: env("ADMIN_TOKEN")?,
        database: sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(&env("DATABASE_URL")?)?,
        brokers: env("KAFKA_BROKERS")?,
    };
    let setup = Command::new(bench.bin.join("projector"))
        .arg("setup")
        .env("INGEST_WEBSITES", traffic::ingest_websites(WEBSITES))
        .output()?;
    if !setup.status.success() {
        bail!(
            "projector setup failed: {}",
            String::from_utf8_lossy(&setup.stderr)
        );
    }
    statements::enable(&stack.database).await;
    match bench.part {
        Part::Everything => everything(bench, &stack).await,
        Part::Reads => reads_again(bench, &stack).await,
        Part::Rebuild => rebuild(bench, &stack).await,
    }
}

/// Writes `value` to `OUT/NAME.json`.
fn save(out: &Path, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(out.join(format!("{name}.json")), text + "\n")
        .with_context(|| format!("cannot write {name}.json"))
}

fn say(what: &str) {
    eprintln!("\x1b[1m==> {what}\x1b[0m");
}

impl Bench {
    fn processes(&self, services: &[(&'static str, u32)]) -> Processes<'_> {
        Processes {
            broker: self.broker_pid,
            pgdata: &self.pgdata,
            services: services.to_vec(),
        }
    }

    /// Starts a service, with the websites the traffic uses ([`WEBSITES`]) as ingest's.
    fn start(&self, name: &'static str, log: &str, env: &[(&str, &str)]) -> anyhow::Result<Daemon> {
        let websites = traffic::ingest_websites(WEBSITES);
        let mut env = env.to_vec();
        env.push(("INGEST_WEBSITES", &websites));
        Daemon::start(&self.bin, &self.dir, name, log, &env)
    }

    /// Measures `phase` as `cpu-NAME.json`, and what Postgres did in it as
    /// `statements-NAME.json`.
    async fn measured<T>(
        &self,
        name: &str,
        services: &[(&'static str, u32)],
        phase: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let database = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy(&env("DATABASE_URL")?)?;
        statements::reset(&database).await;
        let processes = self.processes(services);
        let meter = Meter::start(&processes);
        let value = phase.await?;
        let used: Phase = meter.stop(&processes);
        save(&self.out, &format!("cpu-{name}"), &used)?;
        let statements = statements::read(&database).await;
        save(&self.out, &format!("statements-{name}"), &statements)?;
        Ok(value)
    }
}

fn closed(
    url: &str,
    batch: usize,
    concurrency: usize,
    events: usize,
    seed: u64,
    warmup: f64,
) -> http::Load {
    http::Load {
        url: format!("http://{url}"),
        batch,
        mode: http::Mode::Closed {
            concurrency,
            events,
        },
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs_f64(warmup),
        websites: WEBSITES,
        seed,
        probe: None,
    }
}

/// Produces `events` records of the traffic model straight to the broker.
async fn produce(
    brokers: &str,
    events: usize,
    seed: u64,
    history_days: Option<u32>,
) -> anyhow::Result<produce::Produced> {
    // KAFKA_PROPERTIES as the services read them.
    let mut kafka = runtime::kafka::KafkaConfig::from_source(&runtime::config::Env)?;
    kafka.brokers = brokers.to_owned();
    let mut traffic = traffic::Traffic::new(
        seed,
        traffic::websites(WEBSITES),
        traffic::Shares::default(),
    );
    if let Some(days) = history_days {
        traffic = traffic.with_history(chrono::Utc::now(), days);
    }
    tokio::task::spawn_blocking(move || {
        produce::produce_traffic(&kafka, "chat-events", &mut traffic, events, 50)
    })
    .await?
}

async fn everything(bench: &Bench, stack: &Stack) -> anyhow::Result<()> {
    let (s, out) = (bench.sizes, &bench.out);
    save(out, "machine", &machine())?;

    say(&format!(
        "ingest on an in-memory sink: its own cost ({} events in batches of 100, then {} single-event requests)",
        s.events, s.single
    ));
    let mut ingest = bench.start("ingest", "ingest-memory.log", &[("INGEST_SINK", "memory")])?;
    ingest.ready(&stack.ingest, Duration::from_secs(60)).await?;
    // Enough clients to keep ingest busy while some wait on key commits.
    let load = closed(&stack.ingest, 100, 16, s.events, 1, s.warmup);
    let summary = bench
        .measured("memory-batched", &[ingest.who()], http::run(&load))
        .await?;
    save(out, "memory-batched", &summary)?;
    let load = closed(&stack.ingest, 1, 32, s.single, 1, s.warmup);
    let summary = bench
        .measured("memory-single", &[ingest.who()], http::run(&load))
        .await?;
    save(out, "memory-single", &summary)?;
    ingest.stop();

    say(&format!(
        "the ceiling for ingest: a plain producer writes {} of the same records",
        s.events
    ));
    let produced = bench
        .measured("produce", &[], produce(&stack.brokers, s.events, 2, None))
        .await?;
    save(out, "produce", &produced)?;

    say(&format!(
        "ingest on Kafka: {} events in batches of 100, acknowledged",
        s.events
    ));
    let mut ingest = bench.start("ingest", "ingest.log", &[])?;
    ingest.ready(&stack.ingest, Duration::from_secs(60)).await?;
    // A batch is answered once the broker acknowledged it, so the clients must be many for
    // the wait not to be what is measured (docs/performance.md).
    let load = closed(&stack.ingest, 100, 32, s.events, 3, s.warmup);
    let summary = bench
        .measured("ingest-kafka", &[ingest.who()], http::run(&load))
        .await?;
    save(out, "ingest-kafka", &summary)?;

    say("the ceiling for the projector: reading the whole topic and doing nothing");
    let consumed = bench
        .measured("consume", &[ingest.who()], async {
            let log = run_projector(bench, &["consume-rate"], "consume.log")?;
            consume_rate(&log).context("consume-rate said no rate")
        })
        .await?;
    let mut records = consumed.0;
    save(
        out,
        "consume",
        &json!({"records": consumed.0, "seconds": consumed.1}),
    )?;

    say(&format!(
        "the projector drains the {records} records into Postgres"
    ));
    let started = Instant::now();
    let mut projector = bench.start("projector", "projector.log", &[])?;
    bench
        .measured(
            "drain",
            &[ingest.who(), projector.who()],
            applied(&mut projector, &stack.database, records),
        )
        .await?;
    save(
        out,
        "drain",
        &json!({"records": records, "seconds": started.elapsed().as_secs_f64()}),
    )?;

    let mut query_api = bench.start("query-api", "query-api.log", &[])?;
    query_api
        .ready(&stack.query, Duration::from_secs(60))
        .await?;

    say(&format!(
        "end to end: {} events through ingest while the projector applies them",
        s.e2e
    ));
    let started = Instant::now();
    // Every event counts here (no warm-up): the run is timed until the last one is applied.
    let load = closed(&stack.ingest, 100, 8, s.e2e, 4, 0.0);
    let services = [ingest.who(), projector.who(), query_api.who()];
    let summary = bench
        .measured("e2e", &services, async {
            let summary = http::run(&load).await?;
            records += summary.events_accepted;
            applied(&mut projector, &stack.database, records).await?;
            Ok(summary)
        })
        .await?;
    let e2e_seconds = started.elapsed().as_secs_f64();
    save(&bench.dir, "e2e-ingest", &summary)?;
    save(
        out,
        "e2e",
        &json!({"events": s.e2e, "records": summary.events_accepted, "seconds": e2e_seconds}),
    )?;

    let half = (summary.events_accepted as f64 / e2e_seconds / 2.0).round();
    say(&format!(
        "freshness: {half} events/s (half the end-to-end rate) for {}s, probing query-api",
        s.seconds
    ));
    let load = http::Load {
        url: format!("http://{}", stack.ingest),
        batch: 10,
        mode: http::Mode::Open { events_per_s: half },
        duration: Duration::from_secs_f64(s.seconds),
        warmup: Duration::ZERO,
        websites: WEBSITES,
        seed: 5,
        probe: Some(http::Probe {
            url: format!("http://{}", stack.query),
            token: stack.token.clone(),
            per_s: 5.0,
        }),
    };
    let freshness = bench
        .measured("freshness", &services, http::run(&load))
        .await?;
    save(out, "freshness", &freshness)?;
    // (The probes' events are not counted: a few, and one that failed may not be in the topic.)
    records += freshness.events_accepted;
    applied(&mut projector, &stack.database, records).await?;

    let have = count(&stack.database, "conversations").await?;
    if have < s.conversations {
        // About 4.3 events per conversation (the traffic model); spread over 90 days.
        let more = usize::try_from((s.conversations - have) * 43 / 10)?;
        say(&format!(
            "the read dataset: {more} more events of past conversations, to about {}",
            s.conversations
        ));
        let produced = produce(&stack.brokers, more, 6, Some(90)).await?;
        save(&bench.dir, "dataset-produce", &produced)?;
        records += more as u64;
        applied(&mut projector, &stack.database, records).await?;
    }
    save(out, "dataset", &dataset(&stack.database).await?)?;
    sqlx::query("VACUUM ANALYZE")
        .execute(&stack.database)
        .await?;
    reads(bench, stack, &services).await?;

    let rss: std::collections::BTreeMap<&str, u64> = [
        ("ingest", ingest.pid()),
        ("projector", projector.pid()),
        ("query-api", query_api.pid()),
        ("broker", bench.broker_pid),
    ]
    .into_iter()
    .map(|(name, pid)| (name, procs::peak_rss_kb(pid)))
    .collect();
    save(out, "rss", &rss)?;
    Ok(())
}

/// The reads again, with the current build, on the dataset the last full run left.
async fn reads_again(bench: &Bench, stack: &Stack) -> anyhow::Result<()> {
    let out = &bench.out;
    save(out, "reads", &machine())?;
    // The projector migrates the read models (new indexes) before it reports ready.
    let mut projector = bench.start("projector", "projector.log", &[])?;
    projector
        .ready(&stack.projector, Duration::from_secs(600))
        .await?;
    let mut query_api = bench.start("query-api", "query-api.log", &[])?;
    query_api
        .ready(&stack.query, Duration::from_secs(60))
        .await?;
    // query-api's retention job runs at start and the projector clears what its cut-offs
    // reach: measured during that, the reads would measure it too.
    tokio::time::sleep(Duration::from_secs(10)).await;
    caught_up(&mut projector, &stack.projector).await?;
    // As after the full run's load: a migration that rewrote rows leaves them dead and the
    // visibility map clear until a vacuum.
    sqlx::query("VACUUM ANALYZE")
        .execute(&stack.database)
        .await?;
    reads(bench, stack, &[projector.who(), query_api.who()]).await?;
    // Only query-api's peak is this run's; the others are the full run's.
    let path = out.join("rss.json");
    let mut rss: serde_json::Map<String, serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    rss.insert(
        "query-api".into(),
        procs::peak_rss_kb(query_api.pid()).into(),
    );
    save(out, "rss", &rss)
}

/// `projector rebuild` of the whole topic, after the same topic read doing nothing (its
/// ceiling). Versions a previous run left retired are dropped first, so the disk holds two.
async fn rebuild(bench: &Bench, stack: &Stack) -> anyhow::Result<()> {
    let out = &bench.out;
    save(out, "rebuilt", &machine())?;
    let old: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM colloquy.read_models WHERE state IN ('retired', 'failed') ORDER BY 1",
    )
    .fetch_all(&stack.database)
    .await?;
    for version in old {
        run_projector(
            bench,
            &["drop-version", &version.to_string()],
            "drop-version.log",
        )?;
    }
    say("the ceiling for a rebuild: reading the whole topic and doing nothing");
    let consumed = bench
        .measured("rebuild-consume", &[], async {
            let log = run_projector(bench, &["consume-rate"], "rebuild-consume.log")?;
            consume_rate(&log).context("consume-rate said no rate")
        })
        .await?;
    save(
        out,
        "rebuild-consume",
        &json!({"records": consumed.0, "seconds": consumed.1}),
    )?;
    say(&format!(
        "the projector rebuilds every read model from the {} records, with its parity check",
        consumed.0
    ));
    let started = Instant::now();
    let log = bench
        .measured("rebuild", &[], async {
            run_projector(bench, &["rebuild"], "rebuild.log")
        })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let (records, catch_up) = consume_rate(&log).context("the rebuild said no rate")?;
    let compared = log.lines().filter(|l| l.ends_with("  equal")).count();
    save(
        out,
        "rebuild",
        &json!({
            "records": records,
            "seconds": seconds,
            "catch_up_seconds": catch_up,
            "tables_compared_equal": compared,
        }),
    )
}

/// Runs `projector ARGS` to its end, its output in `LOG` in the bench's folder; returns it, or
/// fails with it when the command did.
fn run_projector(bench: &Bench, args: &[&str], log: &str) -> anyhow::Result<String> {
    let run = Command::new(bench.bin.join("projector"))
        .args(args)
        .stdout(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&run.stderr).into_owned();
    std::fs::write(bench.dir.join(log), &text)?;
    anyhow::ensure!(
        run.status.success(),
        "projector {} failed:\n{text}",
        args.join(" ")
    );
    Ok(text)
}

/// query-api's reads, then a whole export of the conversations.
async fn reads(
    bench: &Bench,
    stack: &Stack,
    services: &[(&'static str, u32)],
) -> anyhow::Result<()> {
    let (s, out) = (bench.sizes, &bench.out);
    say(&format!("query-api reads: {} of each kind", s.requests));
    let queries = query::Queries {
        url: format!("http://{}", stack.query),
        token: stack.token.clone(),
        requests: s.requests,
        concurrency: 1,
        websites: traffic::websites(WEBSITES),
        seed: 1,
    };
    let read = bench
        .measured("queries", services, query::run(&queries))
        .await?;
    save(out, "queries", &read)?;

    say("query-api exports every conversation as CSV");
    let pid = services
        .iter()
        .find(|(name, _)| *name == "query-api")
        .context("query-api is not running")?
        .1;
    let before = procs::rss_kb(pid);
    procs::reset_peak_rss(pid);
    let started = Instant::now();
    let url = format!("http://{}/v1/exports/conversations?format=csv", stack.query);
    let lines = bench
        .measured("export", services, async {
            // curl streams it: counting lines holds no export in memory.
            let export = Command::new("curl")
                .args([
                    "-fsS",
                    "-H",
                    &format!("Authorization: Bearer {}", stack.token),
                    &url,
                ])
                .stdout(Stdio::piped())
                .spawn()
                .context("cannot run curl")?;
            let counted = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
                use std::io::Read as _;
                let mut export = export;
                let mut stdout = export.stdout.take().context("no output")?;
                let (mut buf, mut lines) = (vec![0u8; 1 << 16], 0u64);
                loop {
                    let n = stdout.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
                }
                anyhow::ensure!(export.wait()?.success(), "the export failed");
                Ok(lines)
            });
            counted.await?
        })
        .await?;
    save(
        out,
        "export",
        &json!({
            "rows": lines.saturating_sub(1),
            "seconds": started.elapsed().as_secs_f64(),
            "rss_before_kb": before,
            "peak_rss_kb": procs::peak_rss_kb(pid),
        }),
    )
}

/// `(records, seconds)` from `projector consume-rate`'s "read N records in Xs".
fn consume_rate(log: &str) -> Option<(u64, f64)> {
    let line = log.lines().find(|l| l.starts_with("read "))?;
    let mut words = line.split_whitespace();
    let records = words.nth(1)?.parse().ok()?;
    let seconds = words
        .nth(2)?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((records, seconds))
}

/// Until the projector has stored offsets past `records` records; fails when they stop moving
/// for two minutes or the projector exits.
async fn applied(projector: &mut Daemon, database: &PgPool, records: u64) -> anyhow::Result<()> {
    let (mut last, mut moved) = (-1i64, Instant::now());
    loop {
        if !projector.alive() {
            bail!("the projector exited: see {}", projector.log.display());
        }
        let stored: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(next_offset), 0)::int8 FROM projector_offsets WHERE topic = 'chat-events'",
        )
        .fetch_one(database)
        .await
        .unwrap_or(0);
        if stored >= i64::try_from(records)? {
            return Ok(());
        }
        if stored != last {
            (last, moved) = (stored, Instant::now());
        }
        if moved.elapsed() > Duration::from_secs(120) {
            bail!("the projector stopped at {stored} of {records} records");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until the projector's lag gauges (refreshed every 5 s) say it applied everything.
async fn caught_up(projector: &mut Daemon, addr: &str) -> anyhow::Result<()> {
    let client = crate::client::Client::new(&format!("http://{addr}"))?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if !projector.alive() {
            bail!("the projector exited: see {}", projector.log.display());
        }
        if let Ok(answer) = client.get("/metrics", "").await {
            let text = String::from_utf8_lossy(&answer.body);
            let lags: Vec<f64> = text
                .lines()
                .filter(|l| l.starts_with("projector_lag{") || l.starts_with("projector_lag "))
                .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                .collect();
            if !lags.is_empty() && lags.iter().sum::<f64>() == 0.0 {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("the projector did not catch up within 10 minutes")
}

async fn count(database: &PgPool, table: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(database)
        .await?)
}

async fn dataset(database: &PgPool) -> anyhow::Result<serde_json::Value> {
    Ok(json!({
        "conversations": count(database, "conversations").await?,
        "contacts": count(database, "contacts").await?,
        "messages": count(database, "messages").await?,
    }))
}

/// The machine the figures come from.
fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let memory_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    json!({
        "date": chrono::Utc::now().format("%Y-%m-%dT%H:%MZ").to_string(),
        "commit": commit,
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()).to_string(),
        "memory": format!("{:.0} GiB", memory_kb / 1_048_576.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consume_rate_is_read_from_its_line() {
        let log = "some warning\nread 40000 records in 2.65s (15094 records/s)\n";
        assert_eq!(consume_rate(log), Some((40_000, 2.65)));
        assert_eq!(consume_rate("nothing"), None);
    }
}
