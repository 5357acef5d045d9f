//! The laptop's defaults stay on the laptop: each service, bound to an address beyond loopback
//! with the development secrets it would use on one (the demo write key, the development admin
//! token, the development admin-event key), refuses to start, naming the setting and how to
//! set a real one, before it binds anything.

use std::process::Stdio;

use e2e::{bin_dir, free_port};
use tokio::process::Command;

/// Runs `binary` with only `env` (and `PATH`), to its end: its exit status and its output.
async fn run(binary: &str, env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut command = Command::new(bin_dir().join(binary));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn every_service_refuses_the_development_secrets_beyond_loopback() {
    let public = || format!("0.0.0.0:{}", free_port());
    let cases = [
        (
            "ingest",
            vec![
                ("INGEST_ADDR", public()),
                ("INGEST_METRICS_ADDR", "off".into()),
            ],
            ["INGEST_WEBSITES", "demo-write-key", "COLLOQUY_DEV_STACK"],
        ),
        (
            "query-api",
            vec![
                ("QUERY_API_ADDR", public()),
                ("QUERY_API_METRICS_ADDR", "off".into()),
            ],
            ["ADMIN_TOKEN", "beyond loopback", "openssl rand"],
        ),
        (
            "projector",
            vec![("PROJECTOR_ADDR", public())],
            ["ADMIN_EVENT_KEYS", "beyond loopback", "openssl rand"],
        ),
    ];
    for (binary, env, said) in cases {
        let (code, text) = run(binary, &env).await;
        assert!(
            code.is_some_and(|c| c != 0),
            "{binary} started: {code:?}\n{text}"
        );
        for words in said {
            assert!(
                text.contains(words),
                "{binary} did not say {words:?}:\n{text}"
            );
        }
    }
}
