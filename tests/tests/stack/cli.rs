//! Every binary explains itself and refuses what it does not understand: `--help` and
//! `--version` on each binary and subcommand exit 0 without touching anything (no database, no
//! broker, no port: the ports they would bind are held here, and the stores do not exist), an
//! unknown argument exits 2 with a usage line, and `--help` lists every setting of the
//! configuration table the service reads, a table that names every variable the code reads.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use e2e::bin_dir;
use runtime::cli::settings;
use tokio::process::Command;

/// Each binary, its name in the configuration table (loadgen takes options, not settings), and
/// its subcommands (with their own).
type Binary = (
    &'static str,
    Option<&'static str>,
    &'static [&'static [&'static str]],
);
const BINARIES: &[Binary] = &[
    ("ingest", Some("ingest"), &[&["serve"], &["healthcheck"]]),
    (
        "query-api",
        Some("query-api"),
        &[&["serve"], &["healthcheck"]],
    ),
    (
        "projector",
        Some("projector"),
        &[
            &["run"],
            &["migrate"],
            &["setup"],
            &["rebuild"],
            &["versions"],
            &["leases"],
            &["healthcheck"],
            &["drop-version"],
            &["consume-rate"],
            &["dlq"],
            &["dlq", "list"],
            &["dlq", "replay"],
        ],
    ),
    ("colloquy-mailsink", Some("colloquy-mailsink"), &[]),
    (
        "loadgen",
        None,
        &[
            &["http"],
            &["query"],
            &["produce"],
            &["websites"],
            &["report"],
            &["bench"],
            &["costs"],
        ],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `binary args` with an environment that points every store and listener somewhere
/// unusable: anything beyond parsing the command line would fail or hang.
async fn run(binary: &str, args: &[&str], held: &str) -> (Option<i32>, String, String) {
    let output = Command::new(bin_dir().join(binary))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("KAFKA_BROKERS", "127.0.0.1:1")
        .env("INGEST_ADDR", held)
        .env("QUERY_API_ADDR", held)
        .env("PROJECTOR_ADDR", held)
        .env("MAILSINK_ADDR", held)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn every_binary_and_subcommand_explains_itself_and_refuses_unknown_arguments() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = held.local_addr().unwrap().to_string();
    let table = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    for (binary, service, subcommands) in BINARIES {
        let top: &[&str] = &[];
        for path in std::iter::once(top).chain(subcommands.iter().copied()) {
            let shown = format!("{binary} {}", path.join(" "));
            for flag in ["--help", "--version"] {
                let args: Vec<&str> = path.iter().copied().chain([flag]).collect();
                let (code, out, err) = run(binary, &args, &held).await;
                assert_eq!(code, Some(0), "{shown} {flag}:\n{out}\n{err}");
                if flag == "--version" {
                    // `projector-dlq 0.1.0 (commit …)` for a subcommand.
                    assert!(
                        out.starts_with(binary) && out.contains(" 0."),
                        "{shown}: {out}"
                    );
                    assert!(out.contains("commit"), "{shown}: {out}");
                } else {
                    assert!(out.contains("Usage:"), "{shown} --help:\n{out}");
                }
            }
            let args: Vec<&str> = path.iter().copied().chain(["--no-such-flag"]).collect();
            let (code, out, err) = run(binary, &args, &held).await;
            assert_eq!(code, Some(2), "{shown} --no-such-flag:\n{out}\n{err}");
            assert!(err.contains("Usage:"), "{shown}:\n{err}");
        }
        // The settings the service reads, each named in its help.
        let Some(service) = service else {
            continue;
        };
        let (_, help, _) = run(binary, &["--help"], &held).await;
        let read: Vec<String> = settings(&table)
            .into_iter()
            .filter(|s| s.read_by(service))
            .flat_map(|s| s.names)
            .collect();
        assert!(!read.is_empty(), "{binary} reads no documented setting");
        for name in read {
            assert!(help.contains(&name), "{binary} --help does not list {name}");
        }
    }
    // A typo of a subcommand runs nothing.
    let (code, _, err) = run("projector", &["rebuilt"], &held).await;
    assert_eq!(code, Some(2), "{err}");
}

/// The string literals that look like environment variables in the services' code (not their
/// tests), less those of the build and the test harness.
fn variables_in(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            variables_in(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("testing.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for literal in code.split('"').skip(1).step_by(2) {
            let looks_like = literal.len() > 3
                && literal.contains('_')
                && literal.starts_with(|c: char| c.is_ascii_uppercase())
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            let ours = !literal.starts_with("CARGO_") && literal != "COLLOQUY_COMMIT";
            if looks_like && ours {
                found.push(format!("{literal} ({})", path.display()));
            }
        }
    }
}

#[test]
fn every_variable_the_services_read_is_in_the_configuration_table() {
    let table = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let documented: Vec<String> = settings(&table).into_iter().flat_map(|s| s.names).collect();
    let mut found = Vec::new();
    for crate_dir in ["ingest", "projector", "query-api", "runtime"] {
        variables_in(&root().join(crate_dir).join("src"), &mut found);
    }
    assert!(found.len() > 50, "{found:?}");
    let missing: Vec<&String> = found
        .iter()
        .filter(|f| !documented.iter().any(|d| f.starts_with(&format!("{d} "))))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code, not in docs/configuration.md: {missing:#?}"
    );
}
