//! Plumbing shared by `ingest`, `projector` and `query-api`; none of it knows about event types.
//!
//! # Layout
//! - [`access`]: request ids and the access log.
//! - [`cli`]: what every command line shares: the version, the settings `--help` lists.
//! - [`client_ip`]: the client's address, through trusted proxies' forwarding headers.
//! - [`config`]: typed reading of environment variables, with errors that name the variable.
//! - [`documented`]: routers that record each operation's types, and the OpenAPI document
//!   generated from them.
//! - [`mailsink`]: an SMTP server that keeps what it receives, for e-mail tests and the local
//!   stack (`colloquy-mailsink`).
//! - [`kafka`]: librdkafka client settings, topic creation, and the [`kafka::EventSink`] that
//!   ingest and query-api produce through (with an in-memory twin for tests).
//! - [`metrics`]: the metrics every service has: requests, latency, build.
//! - [`health`]: the liveness and readiness probes' answers.
//! - [`http`]: [`http::HttpServer`], binding and serving a router with graceful shutdown.
//! - [`postgres`]: connection pools.
//! - [`proof`]: the proof of origin admin events carry ([`proof::AdminKeys`]).
//! - [`read_models`]: which versioned schema holds the live read models, and pools that follow it.
//! - [`subject_keys`]: the key store that sealed personal data is encrypted with.
//! - [`telemetry`]: logging set-up.
//! - [`wakeup`]: `LISTEN`/`NOTIFY` wake-ups that let an idle stack stop polling.
//! - [`shutdown`]: the SIGINT/SIGTERM future every binary passes to its server.
//! - `testing` (feature `testing`): fresh databases and topics for tests.

pub mod access;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod documented;
pub mod health;
pub mod http;
pub mod kafka;
pub mod mailsink;
pub mod metrics;
pub mod postgres;
pub mod proof;
pub mod read_models;
pub mod shutdown;
pub mod subject_keys;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wakeup;
