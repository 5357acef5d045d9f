//! The benchmark report: `deploy/dev bench` leaves one JSON file per measurement in a folder;
//! this puts them together with their ceilings and targets into `report.json` and a Markdown
//! table, `report.md`, for the README.
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
    target: &'static str,
    met: Option<bool>,
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

    let raw_produce = produce["records_per_s"].as_f64();
    let ingest_rate = ingest["events_per_s"].as_f64();
    let raw_consume = rate(&consume);
    let drain_rate = rate(&drain);
    let produce_share = ratio(ingest_rate, raw_produce);
    let drain_share = ratio(drain_rate, raw_consume);
    let rows = vec![
        Row {
            figure: "raw produce (plain rdkafka producer, same records)",
            value: raw_produce,
            unit: "records/s",
            against: "ceiling".into(),
            target: "",
            met: None,
        },
        Row {
            figure: "ingest, acknowledged by Kafka (batches of 100)",
            value: ingest_rate,
            unit: "events/s",
            against: share(produce_share, "of raw produce"),
            target: ">= 80% of raw produce",
            met: produce_share.map(|s| s >= 0.8),
        },
        Row {
            figure: "ingest, in-memory sink, batches of 100",
            value: batched["events_per_s"].as_f64(),
            unit: "events/s",
            against: latency(&batched),
            target: ">= 100,000 events/s",
            met: batched["events_per_s"].as_f64().map(|r| r >= 100_000.0),
        },
        Row {
            figure: "ingest, in-memory sink, one event per request",
            value: single["requests_per_s"].as_f64(),
            unit: "requests/s",
            against: latency(&single),
            target: ">= 20,000 requests/s",
            met: single["requests_per_s"].as_f64().map(|r| r >= 20_000.0),
        },
        Row {
            figure: "raw consume (the same topic, doing nothing)",
            value: raw_consume,
            unit: "records/s",
            against: "ceiling".into(),
            target: "",
            met: None,
        },
        Row {
            figure: "projector, draining the backlog into Postgres",
            value: drain_rate,
            unit: "records/s",
            against: share(drain_share, "of raw consume"),
            target: ">= 60% of raw consume",
            met: drain_share.map(|s| s >= 0.6),
        },
        not_measured("end to end, sustained", ">= 15,000 events/s"),
        not_measured("freshness p99 at half load", "< 1 s"),
        not_measured(
            "query-api p99: conversation list, contact search",
            "< 50 ms",
        ),
        not_measured("CSV export", ">= 200,000 rows/s, < 50 MB growth"),
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
        "peak_rss_kb": rss,
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
    md.push_str("| figure | measured | compared with | target | met |\n|---|---:|---|---|---|\n");
    for row in &rows {
        let value = match row.value {
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
    std::fs::write(dir.join("report.md"), &md)?;
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

fn not_measured(figure: &'static str, target: &'static str) -> Row {
    Row {
        figure,
        value: None,
        unit: "",
        against: String::new(),
        target,
        met: None,
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

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(123_456.7), "123,457");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }

    #[test]
    fn a_report_compares_each_figure_with_its_ceiling_and_never_passes_what_was_not_measured() {
        let dir = std::env::temp_dir().join(format!("loadgen-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let put = |name: &str, value: Value| {
            std::fs::write(dir.join(format!("{name}.json")), value.to_string()).unwrap();
        };
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
            md.contains("| 5,000 records/s | 50% of raw consume | >= 60% of raw consume | no |"),
            "{md}"
        );
        assert!(
            md.contains("| ingest, in-memory sink, batches of 100 | not measured |"),
            "{md}"
        );
        assert!(!md.contains("not measured | | < 1 s | yes"));
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["projector_share_of_raw_consume"], json!(0.5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
