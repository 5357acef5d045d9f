//! `loadgen costs`: what the enrichment issue 29 added costs per event, measured in the process
//! on the machine at hand: ingest's country lookup (a browser request's address looked up in
//! the MMDB database) and the projector's language detection (a visitor message without a
//! declared language). Run it in release mode; the figures go to docs/performance.md.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::traffic::{Rng, visitor_question};

#[derive(Debug, Serialize)]
pub struct Costs {
    /// Addresses looked up: random IPv4 addresses, public and not.
    pub lookups: u64,
    /// The share of them the database placed in a country.
    pub placed: f64,
    pub country_lookup_ns: f64,
    /// Visitor questions of the traffic model detected.
    pub messages: u64,
    /// The share of them given a language.
    pub detected: f64,
    pub language_detect_ns: f64,
}

pub fn measure(country_db: &Path, lookups: u64, messages: u64) -> anyhow::Result<Costs> {
    let countries = ingest::countries::Countries::open(country_db)
        .map_err(anyhow::Error::msg)
        .context("open the country database")?;
    let mut rng = Rng::new(29);
    let addresses: Vec<IpAddr> = (0..lookups)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32)))
        .collect();
    let started = Instant::now();
    let placed = addresses
        .iter()
        .filter(|ip| countries.lookup(**ip).is_some())
        .count();
    let lookup_ns = started.elapsed().as_nanos() as f64 / lookups.max(1) as f64;

    let texts: Vec<String> = (0..messages).map(|_| visitor_question(&mut rng)).collect();
    let started = Instant::now();
    let detected = texts
        .iter()
        .filter(|t| projector::projections::language::detect(t).is_some())
        .count();
    let detect_ns = started.elapsed().as_nanos() as f64 / messages.max(1) as f64;
    Ok(Costs {
        lookups,
        placed: placed as f64 / lookups.max(1) as f64,
        country_lookup_ns: lookup_ns,
        messages,
        detected: detected as f64 / messages.max(1) as f64,
        language_detect_ns: detect_ns,
    })
}
