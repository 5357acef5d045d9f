//! The benchmark report: `deploy/dev bench` leaves one JSON file per measurement in a folder;
//! this puts them together with their ceilings and targets into `report.json` and a Markdown
//! table, `report.md`, for docs/performance.md.
//!
//! A figure that was not measured is reported as such, never as met.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

/// Reads `dir/NAME.json`, or `Null` when the measurement is absent.
fn part(dir: &Path, name: &str) -> anyhow::Result<Value> {
    let path = dir.join(format!("{name}.json"));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(error) => Err(error).with_context(|| format!("{}", path.display())),
    }
}

/// One line of the table: what, how much, against what.
struct Row {
    figure: &'static str,
    value: Option<f64>,
    unit: &'static str,
    /// The ceiling or reference it is compared with, as text.
    against: String,
    target: String,
    met: Option<bool>,
}

impl Row {
    /// A ceiling the next row is compared with: measured, no target.
    fn ceiling(figure: &'static str, records_per_s: Option<f64>) -> Self {
        Self {
            figure,
            value: records_per_s,
            unit: "records/s",
            against: "ceiling".into(),
            target: String::new(),
            met: None,
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Writes `report.json` and `report.md` into `dir` and returns the Markdown.
pub fn write(dir: &Path) -> anyhow::Result<String> {
    let machine = part(dir, "machine")?;
    let produce = part(dir, "produce")?;
    let ingest = part(dir, "ingest-kafka")?;
    let batched = part(dir, "memory-batched")?;
    let single = part(dir, "memory-single")?;
    let consume = part(dir, "consume")?;
    let drain = part(dir, "drain")?;
    let rss = part(dir, "rss")?;
    let e2e = part(dir, "e2e")?;
    let freshness = part(dir, "freshness")?;
    let dataset = part(dir, "dataset")?;
    let queries = part(dir, "queries")?;
    let export = part(dir, "export")?;
    let rebuild_consume = part(dir, "rebuild-consume")?;
    let rebuild = part(dir, "rebuild")?;

    let raw_produce = produce["records_per_s"].as_f64();
    let ingest_rate = ingest["events_per_s"].as_f64();
    let raw_consume = rate(&consume);
    let drain_rate = rate(&drain);
    let produce_share = ratio(ingest_rate, raw_produce);
    let drain_share = ratio(drain_rate, raw_consume);
    let rebuild_share = ratio(rate(&rebuild), rate(&rebuild_consume));
    let e2e_share = ratio(rate(&e2e), raw_consume);
    let e2e_cpu = (part(dir, "cpu-e2e")?, e2e["records"].as_f64());
    let rows = vec![
        Row::ceiling(
            "raw produce (plain rdkafka producer, same records)",
            raw_produce,
        ),
        Row {
            figure: "ingest, acknowledged by Kafka (batches of 100)",
            value: ingest_rate,
            unit: "events/s",
            against: share(produce_share, "of raw produce"),
            target: ">= 80% of raw produce".into(),
            met: produce_share.map(|s| s >= 0.8),
        },
        Row {
            figure: "ingest, in-memory sink, batches of 100",
            value: batched["events_per_s"].as_f64(),
            unit: "events/s",
            against: latency(&batched),
            target: ">= 100,000 events/s".into(),
            met: batched["events_per_s"].as_f64().map(|r| r >= 100_000.0),
        },
        Row {
            figure: "ingest, in-memory sink, one event per request",
            value: single["requests_per_s"].as_f64(),
            unit: "requests/s",
            against: latency(&single),
            target: ">= 20,000 requests/s".into(),
            met: single["requests_per_s"].as_f64().map(|r| r >= 20_000.0),
        },
        Row::ceiling("raw consume (the same topic, doing nothing)", raw_consume),
        Row {
            figure: "projector, draining the backlog into Postgres",
            value: drain_rate,
            unit: "records/s",
            against: share(drain_share, "of raw consume"),
            target: ">= 75% of raw consume".into(),
            met: drain_share.map(|s| s >= 0.75),
        },
        Row {
            figure: "end to end, sustained (acknowledged and applied)",
            value: rate(&e2e),
            unit: "events/s",
            against: share(e2e_share, "of raw consume"),
            // The share is the fair measure across machines; the rate is the first goal set.
            target: ">= 50% of raw consume, >= 15,000 events/s".into(),
            met: e2e_share
                .zip(rate(&e2e))
                .map(|(s, r)| s >= 0.5 && r >= 15_000.0),
        },
        cpu_row(
            "Postgres' CPU per event, end to end",
            &e2e_cpu,
            &["postgres"],
            60.0,
        ),
        cpu_row(
            "the pipeline's CPU per event, end to end (broker, Postgres, ingest, projector)",
            &e2e_cpu,
            &["broker", "postgres", "ingest", "projector"],
            150.0,
        ),
        freshness_row(&freshness),
        query_row(
            &queries["conversation_list"],
            "query-api p99: conversation list",
            50.0,
            &dataset,
        ),
        query_row(
            &queries["contact_search"],
            "query-api p99: contact search",
            50.0,
            &dataset,
        ),
        query_row(
            &queries["stats"],
            "query-api p99: statistics",
            200.0,
            &dataset,
        ),
        export_row(&export),
        Row::ceiling(
            "raw consume of the whole topic, before the rebuild",
            rate(&rebuild_consume),
        ),
        Row {
            figure: "rebuild of every read model, with its parity check",
            value: rate(&rebuild),
            unit: "records/s",
            against: match rebuild["tables_compared_equal"].as_u64() {
                Some(tables) => format!(
                    "{}; {tables} tables compared, equal",
                    share(rebuild_share, "of raw consume")
                ),
                None => share(rebuild_share, "of raw consume"),
            },
            target: ">= 80% of raw consume".into(),
            met: rebuild_share.map(|s| s >= 0.8),
        },
    ];

    let report = json!({
        "machine": machine,
        "raw_produce": produce,
        "ingest_kafka": ingest,
        "ingest_share_of_raw_produce": produce_share,
        "ingest_memory_batched": batched,
        "ingest_memory_single": single,
        "raw_consume": consume,
        "projector_drain": drain,
        "projector_share_of_raw_consume": drain_share,
        "end_to_end": e2e,
        "end_to_end_share_of_raw_consume": e2e_share,
        "freshness": freshness,
        "dataset": dataset,
        "queries": queries,
        "csv_export": export,
        "rebuild_raw_consume": rebuild_consume,
        "rebuild": rebuild,
        "rebuild_share_of_raw_consume": rebuild_share,
        "peak_rss_kb": rss,
        "cpu_seconds": phase_units(dir)?
            .iter()
            .map(|(phase, _, _)| Ok(((*phase).to_owned(), part(dir, &format!("cpu-{phase}"))?)))
            .collect::<anyhow::Result<serde_json::Map<_, _>>>()?,
        "postgres_statements": STATEMENT_PHASES
            .iter()
            .map(|phase| Ok(((*phase).to_owned(), part(dir, &format!("statements-{phase}"))?)))
            .collect::<anyhow::Result<serde_json::Map<_, _>>>()?,
    });
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&report)?)?;

    let mut md = String::new();
    if let Some(m) = machine.as_object() {
        let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
        writeln!(
            md,
            "Measured {} at commit {} on {} ({} cores, {} memory), everything on the one machine.\n",
            field("date"),
            field("commit"),
            field("cpu"),
            field("cores"),
            field("memory")
        )?;
    }
    // The forms that measure part of the table again on the last full run's dataset.
    for (name, rows, form) in [
        ("reads", "query-api rows were measured again", "--reads"),
        ("rebuilt", "rebuild rows were measured", "--rebuild"),
    ] {
        if let Some(r) = part(dir, name)?.as_object() {
            let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
            writeln!(
                md,
                "The {rows} {} at commit {}, on the same dataset (`deploy/dev bench {form}`).\n",
                field("date"),
                field("commit")
            )?;
        }
    }
    md.push_str("| figure | measured | compared with | target | met |\n|---|---:|---|---|---|\n");
    for row in &rows {
        let value = match row.value {
            Some(v) if row.unit == "ms" || row.unit == "µs" => format!("{v:.1} {}", row.unit),
            Some(v) => format!("{} {}", thousands(v), row.unit),
            None => "not measured".into(),
        };
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "no",
            None if row.target.is_empty() => "",
            None => "not yet",
        };
        writeln!(
            md,
            "| {} | {value} | {} | {} | {met} |",
            row.figure, row.against, row.target
        )?;
    }
    if let Some(services) = rss.as_object() {
        let list: Vec<String> = services
            .iter()
            .map(|(name, kb)| format!("{name} {:.0} MB", kb.as_f64().unwrap_or(0.0) / 1024.0))
            .collect();
        writeln!(md, "\nPeak resident memory: {}.", list.join(", "))?;
    }
    let cpu = cpu_table(dir)?;
    if !cpu.is_empty() {
        md.push_str(&cpu);
    }
    md.push_str(&statements_tables(dir)?);
    std::fs::write(dir.join("report.md"), &md)?;
    Ok(md)
}

/// The processes `deploy/dev bench` accounts CPU to, in its `cpu-PHASE.json` files.
const PROCESSES: [&str; 6] = [
    "broker",
    "postgres",
    "ingest",
    "projector",
    "query-api",
    "clients",
];

/// What each phase did, for the CPU spent per unit of it: (phase, unit, count).
fn phase_units(dir: &Path) -> anyhow::Result<Vec<(&'static str, &'static str, Option<f64>)>> {
    let events_total = |name| part(dir, name).map(|v| v["events_total"].as_f64());
    let records = |name| part(dir, name).map(|v| v["records"].as_f64());
    let queries = part(dir, "queries")?;
    let requests = queries.as_object().map(|kinds| {
        kinds
            .values()
            .map(|k| k["requests"].as_f64().unwrap_or(0.0) + k["warmup"].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    });
    Ok(vec![
        ("memory-batched", "event", events_total("memory-batched")?),
        ("memory-single", "request", events_total("memory-single")?),
        ("produce", "record", records("produce")?),
        ("ingest-kafka", "event", events_total("ingest-kafka")?),
        ("consume", "record", records("consume")?),
        ("drain", "record", records("drain")?),
        ("e2e", "event", records("e2e")?),
        ("freshness", "event", events_total("freshness")?),
        ("queries", "request", requests),
        ("export", "row", part(dir, "export")?["rows"].as_f64()),
        ("rebuild-consume", "record", records("rebuild-consume")?),
        ("rebuild", "record", records("rebuild")?),
    ])
}

/// Where the CPU of each phase went: microseconds per unit of work for every process, and how
/// many of the machine's cores the phase kept busy. This is what shows which process bounds
/// a figure on a machine where they all share the cores.
fn cpu_table(dir: &Path) -> anyhow::Result<String> {
    let mut md = String::new();
    for (phase, unit, count) in phase_units(dir)? {
        let cpu = part(dir, &format!("cpu-{phase}"))?;
        let (Some(wall), Some(count)) = (cpu["wall_seconds"].as_f64(), count) else {
            continue;
        };
        if md.is_empty() {
            md.push_str(
                "\nCPU per unit of work, in µs (from /proc over each phase; `clients` is what \
                 the phase ran itself: loadgen, `projector consume-rate` or `projector rebuild`, \
                 and the odd psql or curl):\n\n| phase | unit |",
            );
            for p in PROCESSES {
                write!(md, " {p} |")?;
            }
            md.push_str(" cores busy |\n|---|---|");
            md.push_str(&"---:|".repeat(PROCESSES.len() + 1));
            md.push('\n');
        }
        write!(md, "| {phase} | {unit} |")?;
        let mut total = 0.0;
        for p in PROCESSES {
            let seconds = cpu[p].as_f64().unwrap_or(0.0);
            total += seconds;
            if seconds > 0.0 && count > 0.0 {
                write!(md, " {:.1} |", seconds * 1e6 / count)?;
            } else {
                md.push_str(" |");
            }
        }
        writeln!(md, " {:.2} |", if wall > 0.0 { total / wall } else { 0.0 })?;
    }
    Ok(md)
}

/// The phases whose Postgres work is broken down by statement.
const STATEMENT_PHASES: [&str; 3] = ["drain", "e2e", "rebuild"];

/// Where Postgres spent each of [`STATEMENT_PHASES`], statement by statement
/// (`statements-PHASE.json`, from `pg_stat_statements`), per unit of the phase's work.
fn statements_tables(dir: &Path) -> anyhow::Result<String> {
    let mut md = String::new();
    for (phase, unit, count) in phase_units(dir)? {
        if !STATEMENT_PHASES.contains(&phase) {
            continue;
        }
        let statements = part(dir, &format!("statements-{phase}"))?;
        let (Some(list), Some(count)) = (statements.as_array(), count) else {
            continue;
        };
        if list.is_empty() || count <= 0.0 {
            continue;
        }
        let total: f64 = list.iter().filter_map(|s| s["exec_ms"].as_f64()).sum();
        writeln!(
            md,
            "\nPostgres in `{phase}`, per {unit}, its costliest statements (`pg_stat_statements`; \
             execution is time inside Postgres, not CPU; share of these statements' time):\n\n\
             | statement | calls | exec µs | rows | WAL bytes | of them whole pages | blocks dirtied | share |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        )?;
        for s in list {
            let per = |key: &str| s[key].as_f64().unwrap_or(0.0) / count;
            let query: String = s["query"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(110)
                .collect::<String>()
                .replace('|', "\\|")
                .replace('`', "'");
            let exec = s["exec_ms"].as_f64().unwrap_or(0.0);
            writeln!(
                md,
                "| `{query}` | {:.3} | {:.1} | {:.2} | {:.0} | {:.3} | {:.3} | {:.0}% |",
                per("calls"),
                exec * 1000.0 / count,
                per("rows"),
                per("wal_bytes"),
                per("wal_fpi"),
                per("blocks_dirtied"),
                if total > 0.0 {
                    100.0 * exec / total
                } else {
                    0.0
                }
            )?;
        }
    }
    Ok(md)
}

/// Records per second of a `{records, seconds}` measurement.
fn rate(part: &Value) -> Option<f64> {
    let records = part["records"].as_f64()?;
    let seconds = part["seconds"].as_f64()?;
    (seconds > 0.0).then(|| records / seconds)
}

fn share(share: Option<f64>, of: &str) -> String {
    share.map_or_else(String::new, |s| format!("{:.0}% {of}", s * 100.0))
}

fn latency(summary: &Value) -> String {
    match summary["latency_ms"]["p99"].as_f64() {
        Some(p99) => format!("p99 {p99:.1} ms"),
        None => String::new(),
    }
}

/// p99 from ingest's acknowledgement to the first read showing the event, at the load the
/// run was given; a probe lost or refused fails the row whatever the percentiles say.
fn freshness_row(run: &Value) -> Row {
    let probes = &run["freshness"];
    let p99 = probes["visible_after_ms"]["p99"].as_f64();
    let clean = probes["lost"].as_u64() == Some(0) && probes["failed"].as_u64() == Some(0);
    Row {
        figure: "freshness p99 at half load (acknowledged → visible in query-api)",
        value: p99,
        unit: "ms",
        against: match (
            probes["visible_after_ms"]["p50"].as_f64(),
            run["events_per_s"].as_f64(),
        ) {
            (Some(p50), Some(rate)) => {
                let why: Vec<String> = probes["failures"]
                    .as_object()
                    .map(|f| f.iter().map(|(k, n)| format!("{k}: {n}")).collect())
                    .unwrap_or_default();
                let why = if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                };
                format!(
                    "p50 {p50:.1} ms; {} probes, {} lost, {} failed{why}; at {} events/s",
                    probes["probes"],
                    probes["lost"],
                    probes["failed"],
                    thousands(rate)
                )
            }
            _ => String::new(),
        },
        target: "< 500 ms".into(),
        met: p99.map(|p| p < 500.0 && clean),
    }
}

/// One kind of read from `loadgen query`, whose p99 must stay under `limit_ms`; errors fail it.
fn query_row(run: &Value, figure: &'static str, limit_ms: f64, dataset: &Value) -> Row {
    let p99 = run["latency_ms"]["p99"].as_f64();
    let clean = run["transport_errors"].as_u64() == Some(0)
        && run["statuses"].as_object().is_some_and(|s| s.is_empty());
    Row {
        figure,
        value: p99,
        unit: "ms",
        against: match run["latency_ms"]["p50"].as_f64() {
            Some(p50) => format!(
                "p50 {p50:.1} ms over {} requests; {} conversations, {} contacts",
                run["requests"],
                thousands(dataset["conversations"].as_f64().unwrap_or(0.0)),
                thousands(dataset["contacts"].as_f64().unwrap_or(0.0)),
            ),
            None => String::new(),
        },
        target: format!("< {limit_ms:.0} ms"),
        met: p99.map(|p| p < limit_ms && clean),
    }
}

/// The CPU `processes` spent per event of a phase (`(cpu-PHASE.json, events)`), summed, against
/// a ceiling of `limit_us`; the row names each process's share.
fn cpu_row(
    figure: &'static str,
    (cpu, events): &(Value, Option<f64>),
    processes: &[&str],
    limit_us: f64,
) -> Row {
    let per_event: Option<Vec<f64>> = processes
        .iter()
        .map(|p| Some(cpu[*p].as_f64()? * 1e6 / events.filter(|n| *n > 0.0)?))
        .collect();
    let total = per_event.as_ref().map(|each| each.iter().sum::<f64>());
    Row {
        figure,
        value: total,
        unit: "µs",
        against: match (&per_event, processes.len()) {
            (Some(each), 2..) => processes
                .iter()
                .zip(each)
                .map(|(p, us)| format!("{p} {us:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        },
        target: format!("<= {limit_us:.0} µs"),
        met: total.map(|t| t <= limit_us),
    }
}

/// Rows/s of the conversations CSV export and how much query-api's memory grew doing it.
fn export_row(export: &Value) -> Row {
    let rows_per_s = ratio(export["rows"].as_f64(), export["seconds"].as_f64());
    let growth_mb = match (
        export["peak_rss_kb"].as_f64(),
        export["rss_before_kb"].as_f64(),
    ) {
        (Some(peak), Some(before)) => Some((peak - before).max(0.0) / 1024.0),
        _ => None,
    };
    Row {
        figure: "CSV export of every conversation",
        value: rows_per_s,
        unit: "rows/s",
        against: match growth_mb {
            Some(mb) => format!(
                "{} rows; query-api grew {mb:.1} MB",
                thousands(export["rows"].as_f64().unwrap_or(0.0))
            ),
            None => String::new(),
        },
        target: ">= 200,000 rows/s, < 50 MB growth".into(),
        met: match (rows_per_s, growth_mb) {
            (Some(r), Some(mb)) => Some(r >= 200_000.0 && mb < 50.0),
            _ => None,
        },
    }
}

/// `123456.7` as `123,457`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty folder for a test's benchmark parts, and what writes one part (`NAME.json`)
    /// into it as `loadgen bench` does.
    fn parts_folder(test: &str) -> (std::path::PathBuf, impl Fn(&str, Value)) {
        let dir = std::env::temp_dir().join(format!("loadgen-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let parts = dir.clone();
        let put = move |name: &str, value: Value| {
            std::fs::write(parts.join(format!("{name}.json")), value.to_string()).unwrap();
        };
        (dir, put)
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(123_456.7), "123,457");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }

    #[test]
    fn a_report_compares_each_figure_with_its_ceiling_and_never_passes_what_was_not_measured() {
        let (dir, put) = parts_folder("report");
        put("produce", json!({"records_per_s": 50_000.0}));
        put(
            "ingest-kafka",
            json!({"events_per_s": 45_000.0, "latency_ms": {"p99": 9.0}}),
        );
        put("consume", json!({"records": 100_000, "seconds": 10.0}));
        put("drain", json!({"records": 100_000, "seconds": 20.0}));
        let md = write(&dir).unwrap();
        assert!(
            md.contains("| 45,000 events/s | 90% of raw produce | >= 80% of raw produce | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| 5,000 records/s | 50% of raw consume | >= 75% of raw consume | no |"),
            "{md}"
        );
        assert!(
            md.contains("| ingest, in-memory sink, batches of 100 | not measured |"),
            "{md}"
        );
        assert!(!md.contains("not measured | | < 500 ms | yes"));
        assert!(
            md.contains("| rebuild of every read model, with its parity check | not measured |  | >= 80% of raw consume | not yet |"),
            "{md}"
        );
        put(
            "rebuild-consume",
            json!({"records": 400_000, "seconds": 20.0}),
        );
        put(
            "rebuild",
            json!({"records": 400_000, "seconds": 25.0, "tables_compared_equal": 28}),
        );
        put(
            "rebuilt",
            json!({"date": "2026-12-05T01:49Z", "commit": "abc1234"}),
        );
        let md = write(&dir).unwrap();
        assert!(
            md.contains("The rebuild rows were measured 2026-12-05T01:49Z at commit abc1234, on the same dataset (`deploy/dev bench --rebuild`)."),
            "{md}"
        );
        assert!(
            md.contains("| rebuild of every read model, with its parity check | 16,000 records/s | 80% of raw consume; 28 tables compared, equal | >= 80% of raw consume | yes |"),
            "{md}"
        );
        assert!(md.contains("| freshness p99 at half load (acknowledged → visible in query-api) | not measured |  | < 500 ms | not yet |"), "{md}");
        assert!(
            md.contains(
                "| Postgres' CPU per event, end to end | not measured |  | <= 60 µs | not yet |"
            ),
            "{md}"
        );
        put(
            "cpu-drain",
            json!({"wall_seconds": 20.0, "broker": 5.0, "postgres": 20.0, "projector": 10.0}),
        );
        let md = write(&dir).unwrap();
        assert!(
            md.contains("| drain | record | 50.0 | 200.0 | | 100.0 | | | 1.75 |"),
            "{md}"
        );
        // 100,000 records: 2,000 batches of one insert of 50 rows each (4 s, 400 MB of WAL, 40,000
        // whole pages) and one offsets update (1 s): per record 0.02 calls, 40 µs, 4,000 WAL
        // bytes, 0.4 whole pages.
        put(
            "statements-drain",
            json!([
                {"query": "INSERT INTO messages | x", "calls": 2000, "rows": 100_000,
                 "exec_ms": 4000.0, "wal_bytes": 4.0e8, "wal_fpi": 40_000, "blocks_dirtied": 5000},
                {"query": "UPDATE projector_offsets", "calls": 2000, "rows": 2000,
                 "exec_ms": 1000.0, "wal_bytes": 1.0e7, "blocks_dirtied": 0},
            ]),
        );
        let md = write(&dir).unwrap();
        assert!(
            md.contains(
                "| `INSERT INTO messages \\| x` | 0.020 | 40.0 | 1.00 | 4000 | 0.400 | 0.050 | 80% |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| `UPDATE projector_offsets` | 0.020 | 10.0 | 0.02 | 100 | 0.000 | 0.000 | 20% |"
            ),
            "{md}"
        );
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["projector_share_of_raw_consume"], json!(0.5));
        assert_eq!(
            report["postgres_statements"]["drain"][1]["calls"],
            json!(2000)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 33's targets, each in the same run as what it is compared with.
    #[test]
    fn a_report_holds_each_figure_to_its_target() {
        let (dir, put) = parts_folder("targets");
        let row = |md: &str, figure: &str| -> String {
            md.lines()
                .find(|l| l.starts_with(&format!("| {figure} |")))
                .unwrap_or_else(|| panic!("no row {figure} in {md}"))
                .to_owned()
        };
        // 30,000 records/s raw; 180,000 events in 12 s end to end: 15,000/s, half of it.
        put("consume", json!({"records": 300_000, "seconds": 10.0}));
        put("e2e", json!({"records": 180_000, "seconds": 12.0}));
        // Per event: broker 70, Postgres 50, ingest 20, projector 20 (160 in all); query-api
        // and the clients are not the pipeline's.
        put(
            "cpu-e2e",
            json!({"wall_seconds": 12.0, "broker": 12.6, "postgres": 9.0, "ingest": 3.6,
                   "projector": 3.6, "query-api": 1.8, "clients": 9.0}),
        );
        let freshness = |p99: f64| {
            json!({"events_per_s": 2_500.0, "freshness": {"probes": 150, "lost": 0, "failed": 0,
                   "visible_after_ms": {"p50": 200.0, "p99": p99}}})
        };
        put("freshness", freshness(499.0));
        let read = |p99: f64| {
            json!({"latency_ms": {"p50": 10.0, "p99": p99}, "requests": 100,
                   "transport_errors": 0, "statuses": {}})
        };
        put(
            "queries",
            json!({"conversation_list": read(50.0), "contact_search": read(49.0),
                   "stats": read(199.0)}),
        );
        put(
            "dataset",
            json!({"conversations": 1_000_000, "contacts": 200_000}),
        );
        let md = write(&dir).unwrap();
        assert!(
            row(&md, "end to end, sustained (acknowledged and applied)")
                .ends_with("| 15,000 events/s | 50% of raw consume | >= 50% of raw consume, >= 15,000 events/s | yes |"),
            "{md}"
        );
        assert_eq!(
            row(&md, "Postgres' CPU per event, end to end"),
            "| Postgres' CPU per event, end to end | 50.0 µs |  | <= 60 µs | yes |"
        );
        assert!(
            row(&md, "the pipeline's CPU per event, end to end (broker, Postgres, ingest, projector)")
                .ends_with("| 160.0 µs | broker 70.0, postgres 50.0, ingest 20.0, projector 20.0 | <= 150 µs | no |"),
            "{md}"
        );
        let fresh = |md: &str| {
            row(
                md,
                "freshness p99 at half load (acknowledged → visible in query-api)",
            )
        };
        assert!(fresh(&md).ends_with("| < 500 ms | yes |"), "{md}");
        assert!(row(&md, "query-api p99: conversation list").ends_with("| < 50 ms | no |"));
        assert!(row(&md, "query-api p99: contact search").ends_with("| < 50 ms | yes |"));
        assert!(row(&md, "query-api p99: statistics").ends_with("| < 200 ms | yes |"));
        put("queries", json!({"stats": read(200.0)}));
        put("freshness", freshness(500.0));
        let md = write(&dir).unwrap();
        assert!(row(&md, "query-api p99: statistics").ends_with("| < 200 ms | no |"));
        // Half the raw rate is not enough below 15,000 events/s.
        put("consume", json!({"records": 200_000, "seconds": 10.0}));
        put("e2e", json!({"records": 120_000, "seconds": 12.0}));
        let md = write(&dir).unwrap();
        assert!(
            row(&md, "end to end, sustained (acknowledged and applied)")
                .ends_with("| 10,000 events/s | 50% of raw consume | >= 50% of raw consume, >= 15,000 events/s | no |"),
            "{md}"
        );
        assert!(fresh(&md).ends_with("| < 500 ms | no |"), "{md}");
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["end_to_end_share_of_raw_consume"], json!(0.5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
