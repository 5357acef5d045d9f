//! Read latency of query-api: the requests an admin panel makes, timed one kind at a time.
//!
//! Each kind cycles through its variants (one website or all of them, with and without the
//! usual filters) on websites picked at random, so the percentiles cover the large websites
//! and the cross-website reads as well as the small ones. A warm-up of a tenth of the requests
//! is sent first and not counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use serde::Serialize;
use tokio::time::Instant;

use crate::client::Client;
use crate::http::Percentiles;
use crate::traffic::{FIRST_NAMES, LAST_NAMES, Rng, Website};
use crate::workers::{self, lock};

#[derive(Debug, Clone)]
pub struct Queries {
    /// Query-api's base URL.
    pub url: String,
    pub token: String,
    /// Requests of each list kind (see [`requests_of`]).
    pub requests: usize,
    pub concurrency: usize,
    pub websites: Vec<Website>,
    pub seed: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct KindSummary {
    pub requests: u64,
    /// Sent before, not counted.
    pub warmup: u64,
    /// Answers other than 200, by status, and requests with no answer.
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub latency_ms: Percentiles,
}

/// The kinds measured, by name.
pub const KINDS: &[&str] = &["conversation_list", "contact_search", "stats"];

/// The path of the `n`-th request of `kind`.
fn path(kind: &str, n: usize, rng: &mut Rng, websites: &[Website]) -> String {
    let site = &rng.pick(websites).id;
    let today = Utc::now().date_naive();
    let days_ago = |d: i64| today - Duration::days(d);
    match (kind, n % 4) {
        ("conversation_list", 0) => format!("/v1/conversations?website_id={site}&limit=50"),
        ("conversation_list", 1) => {
            format!("/v1/conversations?website_id={site}&status=active&limit=50")
        }
        ("conversation_list", 2) => format!(
            "/v1/conversations?website_id={site}&from={}&to={today}&requires_human=true&limit=50",
            days_ago(6)
        ),
        ("conversation_list", _) => "/v1/conversations?limit=50".into(),
        ("contact_search", k) => {
            // A first name, a last name, or the start of an e-mail address.
            let term = match k % 3 {
                0 => (*rng.pick(FIRST_NAMES)).to_owned(),
                1 => (*rng.pick(LAST_NAMES)).to_lowercase(),
                _ => format!("person{}", rng.below(2_000)),
            };
            if k == 3 {
                format!("/v1/contacts?q={term}&limit=50")
            } else {
                format!("/v1/contacts?website_id={site}&q={term}&limit=50")
            }
        }
        ("stats", 0 | 1) => format!(
            "/v1/stats?website_id={site}&from={}&to={today}",
            days_ago(29)
        ),
        ("stats", 2) => format!("/v1/stats?from={}&to={today}", days_ago(6)),
        _ => format!("/v1/stats?from={}&to={today}", days_ago(89)),
    }
}

/// Requests of `kind` for `requests` of each list: a fifth as many statistics, whose
/// cross-website ranges take seconds each on a large dataset (they count distinct visitors
/// over every day of the range).
fn requests_of(kind: &str, requests: usize) -> usize {
    if kind == "stats" {
        (requests / 5).max(10)
    } else {
        requests
    }
}

/// Times every kind in turn and reports each one's latencies.
pub async fn run(queries: &Queries) -> anyhow::Result<BTreeMap<String, KindSummary>> {
    let client = Arc::new(Client::new(&queries.url)?);
    let mut rng = Rng::new(queries.seed);
    let mut report = BTreeMap::new();
    for kind in KINDS {
        let requests = requests_of(kind, queries.requests);
        let warmup = (requests / 10).max(1);
        let mut warm: Vec<String> = (0..warmup + requests)
            .map(|n| path(kind, n, &mut rng, &queries.websites))
            .collect();
        let counted = warm.split_off(warmup);
        timed(&client, &queries.token, warm, queries.concurrency).await?;
        let mut summary = timed(&client, &queries.token, counted, queries.concurrency).await?;
        summary.warmup = warmup as u64;
        report.insert((*kind).to_owned(), summary);
    }
    Ok(report)
}

/// Sends `paths` on `concurrency` clients, each waiting for its answer before the next.
async fn timed(
    client: &Arc<Client>,
    token: &str,
    paths: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<KindSummary> {
    let summary = Arc::new(Mutex::new((KindSummary::default(), Vec::new())));
    let (client, token, record) = (client.clone(), token.to_owned(), summary.clone());
    workers::each(paths, concurrency, move |path: String| {
        let (client, token, summary) = (client.clone(), token.clone(), record.clone());
        async move {
            let started = Instant::now();
            let answer = client.get(&path, &token).await;
            let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            let mut summary = lock(&summary);
            summary.0.requests += 1;
            match answer {
                Ok(a) if a.status == 200 => {}
                Ok(a) => *summary.0.statuses.entry(a.status).or_default() += 1,
                Err(_) => summary.0.transport_errors += 1,
            }
            summary.1.push(micros);
        }
    })
    .await?;
    let (mut summary, mut latencies) = std::mem::take(&mut *lock(&summary));
    summary.latency_ms = Percentiles::of(&mut latencies);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::websites;

    #[test]
    fn every_kind_reads_one_website_and_all_of_them() {
        let sites = websites(3);
        let mut rng = Rng::new(1);
        for kind in KINDS {
            let paths: Vec<String> = (0..8).map(|n| path(kind, n, &mut rng, &sites)).collect();
            assert!(
                paths.iter().any(|p| p.contains("website_id=site-")),
                "{kind}"
            );
            assert!(paths.iter().any(|p| !p.contains("website_id")), "{kind}");
            assert!(paths.iter().all(|p| p.starts_with("/v1/")), "{kind}");
        }
    }
}
