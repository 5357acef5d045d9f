//! The query API's service tests, one binary: each module drives the HTTP API of a
//! `spawn_app` ([`common`]) over a real, migrated Postgres.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

mod common;
mod contact_insights;

mod actions;
mod api;
mod exports;
mod funnel;
mod handoffs;
mod leads;
mod legacy;
mod metrics;
mod priorities;
mod reports;
mod retention;
mod statistics;
mod stream;
mod subjects;
mod tenancy;
mod tokens;
mod visitors;
mod webhooks;
