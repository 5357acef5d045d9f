//! What ships for monitoring (`deploy/monitoring/`) holds: Prometheus's own checker accepts the
//! alert rules and its rule tests fire each alert on the series that should fire it; the Grafana
//! dashboard is a well-formed dashboard; and every metric either names is one the services
//! define (their `src/metrics.rs` tables and `runtime/src/metrics.rs`).
//!
//! `deploy/dev test` unpacks promtool from Debian's prometheus package (not installed: no
//! daemon) and names it in `COLLOQUY_PROMTOOL`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use tokio::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every metric the services define, as Prometheus names them, from the tables that document
/// them (the `{prefix}` of the shared ones stands for each service).
fn defined() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (file, prefixes) in [
        ("ingest/src/metrics.rs", &[][..]),
        ("query-api/src/metrics.rs", &[][..]),
        ("projector/src/metrics.rs", &[][..]),
        (
            "runtime/src/metrics.rs",
            &["ingest", "query_api", "projector"][..],
        ),
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for line in text.lines().filter(|l| l.starts_with("//! | `")) {
            let first = line.split('|').nth(1).unwrap_or_default();
            for name in first.split('`').skip(1).step_by(2) {
                if name.contains("{prefix}") {
                    for p in prefixes {
                        names.insert(name.replace("{prefix}", p));
                    }
                } else {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// The metric names an expression uses: identifiers of ours, less a histogram's suffixes.
fn used_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| {
            ["ingest_", "query_api_", "projector_"]
                .iter()
                .any(|p| t.starts_with(p))
        })
        .map(|t| {
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| t.strip_suffix(s))
                .unwrap_or(t)
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_alert_rules_check_and_fire_as_their_tests_say() {
    let promtool = e2e::installed("COLLOQUY_PROMTOOL");
    let dir = root().join("deploy/monitoring");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let output = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .await
            .expect("run promtool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "promtool {args:?}:\n{text}");
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

#[test]
fn the_dashboard_and_the_alerts_use_only_metrics_the_services_define() {
    let defined = defined();
    assert!(defined.contains("projector_lag") && defined.contains("ingest_http_requests_total"));
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/monitoring/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{}", panels.len());
    let mut ids = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "duplicate id in {panel}"
        );
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(
            panel["gridPos"]["w"]
                .as_i64()
                .is_some_and(|w| w > 0 && w <= 24)
        );
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{panel}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{panel}");
        for t in targets {
            exprs.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    let rules = std::fs::read_to_string(root().join("deploy/monitoring/alerts.yml")).unwrap();
    exprs.extend(rules.lines().map(str::to_owned));
    let unknown: BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| used_in(e))
        .filter(|name| !defined.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "not defined by any service: {unknown:?}"
    );
}
