//! The local stack's mail catcher (`deploy/dev up` starts it): an SMTP server on
//! `MAILSINK_ADDR` (127.0.0.1:2525) that keeps every message it receives as an `.eml` file in
//! `MAILSINK_DIR` (`.data/mail`). Reports sent by the local query-api land there.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use runtime::config::{Env, Source};
use runtime::mailsink::MailSink;

/// The local stack's mail catcher: an SMTP server that keeps every message it receives as an
/// .eml file, for weekly reports sent on a laptop.
#[derive(Parser)]
#[command(
    name = "colloquy-mailsink",
    version = runtime::cli::version(env!("CARGO_PKG_VERSION")),
    propagate_version = true,
    after_help = runtime::cli::settings_help(SETTINGS, "colloquy-mailsink"),
)]
struct Cli {}

const SETTINGS: &str = include_str!("../../../docs/configuration.md");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::cli::record_commit(option_env!("COLLOQUY_COMMIT"));
    Cli::parse();
    runtime::telemetry::init();
    let addr = Env.string_or("MAILSINK_ADDR", "127.0.0.1:2525");
    let dir = PathBuf::from(Env.string_or("MAILSINK_DIR", ".data/mail"));
    let sink = MailSink::start(&addr, Some(dir.clone()))
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(addr = %sink.addr, dir = %dir.display(), "colloquy-mailsink keeping mail");
    runtime::shutdown::signal().await;
    Ok(())
}
