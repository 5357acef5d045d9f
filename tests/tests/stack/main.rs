//! The end-to-end tests, one binary (nextest still runs each test in a process of its own):
//! each module drives real processes, the broker and Postgres through the [`e2e`] library.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod access_log;
mod admin;
mod api_fuzz;
mod broker_outage;
mod browser;
mod cli;
mod crash;
mod deploy_files;
mod dev_secrets;
mod dlq;
mod drain;
mod erasure;
mod excel;
mod faults;
mod forgery;
mod idle;
mod monitoring;
mod overload;
mod pipeline;
mod postgres_tls;
mod privacy;
mod rebuild;
mod scale_out;
mod segment_sdks;
mod session_mix;
mod stalled_worker;
mod support_day;
mod visitors;
mod webhooks;
mod websites;
