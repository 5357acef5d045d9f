//! Sending the traffic to ingest over HTTP, closed-loop or open-loop.
//!
//! Closed loop: `concurrency` clients, each sending its next request as soon as the last one
//! was answered; this finds the highest rate ingest sustains. Open loop: requests start on a
//! fixed schedule whatever the answers do, and each latency is measured from when its request
//! was due, not from when it was sent. A server that stalls therefore shows its stall in the
//! latencies instead of slowing the generator down and hiding it (coordinated omission).
//!
//! With a [`Probe`], an open loop also measures freshness: a few times a second a probe sends
//! one event of a new conversation and, once ingest acknowledged it, asks query-api for that
//! conversation until it is there.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::Client;
use crate::traffic::{Request, Shares, Traffic, Website, websites};
use crate::workers::{self, lock};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `concurrency` clients, each waiting for its answer before sending again, until
    /// `events` events were sent.
    Closed { concurrency: usize, events: usize },
    /// Events per second, on a fixed schedule.
    Open { events_per_s: f64 },
}

#[derive(Debug, Clone)]
pub struct Load {
    /// Ingest's base URL.
    pub url: String,
    /// Events per request; 1 sends each event on its own, as a widget does.
    pub batch: usize,
    pub mode: Mode,
    /// How long an open loop runs (after the warm-up).
    pub duration: Duration,
    /// Requests answered in this first stretch are not counted (connections, caches).
    pub warmup: Duration,
    pub websites: usize,
    pub seed: u64,
    pub probe: Option<Probe>,
}

/// Freshness probing: how long an acknowledged event takes to be visible through query-api.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Query-api's base URL.
    pub url: String,
    pub token: String,
    pub per_s: f64,
}

/// How often a probe asks query-api whether its conversation is there yet, at first: the
/// resolution of the figure, traded against the reads it adds to the load.
const PROBE_POLL: Duration = Duration::from_millis(10);

/// The wait before a probe asks again, `waited` after the acknowledgement: 10 ms, and a tenth
/// of the wait so far once that is longer. The figure keeps a resolution of 10%, and a probe
/// asks about 60 times even when it waits 10 s. At a fixed 10 ms, probes that waited seconds
/// polled a hundred times a second each, and once the pipeline fell behind their reads took
/// the CPU it needed to catch up (a run at 1,353 events/s: query-api 9.9 s of CPU in 38 s,
/// freshness p50 6.3 s).
fn probe_poll(waited: Duration) -> Duration {
    PROBE_POLL.max(waited / 10)
}
/// A probe not visible by then counts as lost.
const PROBE_GIVE_UP: Duration = Duration::from_secs(30);

/// What the probes saw.
#[derive(Debug, Default, Serialize)]
pub struct Freshness {
    pub probes: u64,
    /// Acknowledged but not visible within 30 s.
    pub lost: u64,
    /// Not acknowledged by ingest, or refused by query-api.
    pub failed: u64,
    /// Why, counted: `ingest 503`, `query-api: no answer`, …
    pub failures: BTreeMap<String, u64>,
    /// From ingest's acknowledgement to the first read that showed the conversation.
    pub visible_after_ms: Percentiles,
}

/// What a run achieved.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub mode: String,
    pub batch: usize,
    /// The schedule's rate (open loop) or the number of clients (closed loop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_events_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    pub seconds: f64,
    pub requests: u64,
    /// Every event the run sent, the warm-up's included (for the CPU spent per event).
    pub events_total: u64,
    pub events_sent: u64,
    /// Events ingest answered as stored (acknowledged by the broker).
    pub events_accepted: u64,
    pub requests_per_s: f64,
    pub events_per_s: f64,
    /// Answers other than 200, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection errors, timeouts).
    pub transport_errors: u64,
    pub latency_ms: Percentiles,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freshness: Option<Freshness>,
}

#[derive(Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From latencies in microseconds (sorted here).
    pub fn of(latencies: &mut [u32]) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            f64::from(latencies[i]) / 1000.0
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// Counts shared by every request of a run.
#[derive(Default)]
struct Tally {
    requests: u64,
    events_sent: u64,
    events_accepted: u64,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    latencies_us: Vec<u32>,
}

/// A request ready to send: its write key and body.
struct Prepared {
    write_key: String,
    body: Vec<u8>,
    events: u64,
}

fn prepare(request: Request, sites: &[Website], batch: usize) -> Prepared {
    let events = request.events.len() as u64;
    let body = if batch == 1 {
        serde_json::to_vec(&request.events[0])
    } else {
        serde_json::to_vec(&serde_json::json!({ "batch": request.events }))
    };
    Prepared {
        write_key: sites[request.website].write_key.clone(),
        // Serialising a JSON value cannot fail.
        body: body.unwrap_or_default(),
        events,
    }
}

#[derive(Deserialize)]
struct Answer {
    accepted: u64,
}

/// Sends one request and records its outcome, its latency counted from `due`.
async fn send(
    client: &Client,
    request: Prepared,
    due: Instant,
    counted_from: Instant,
    tally: &Mutex<Tally>,
) {
    let outcome = match client
        .post("/v1/events", &request.write_key, &request.body)
        .await
    {
        Ok(answer) if answer.status == 200 => Some((
            200,
            serde_json::from_slice::<Answer>(&answer.body)
                .map(|a| a.accepted)
                .unwrap_or(0),
        )),
        Ok(answer) => Some((answer.status, 0)),
        Err(_) => None,
    };
    let now = Instant::now();
    if due < counted_from {
        return;
    }
    let mut tally = lock(tally);
    tally.requests += 1;
    tally.events_sent += request.events;
    match outcome {
        Some((200, accepted)) => tally.events_accepted += accepted,
        Some((status, _)) => *tally.statuses.entry(status).or_default() += 1,
        None => tally.transport_errors += 1,
    }
    let micros = now.duration_since(due).as_micros();
    tally
        .latencies_us
        .push(u32::try_from(micros).unwrap_or(u32::MAX));
}

/// Every request of a run, built before the clock starts so that building them does not
/// take the CPU ingest runs on: for a closed loop `events` events, for an open loop as many
/// as the schedule sends.
fn prepare_all(load: &Load, sites: &[Website]) -> Vec<Prepared> {
    let events = match load.mode {
        Mode::Closed { events, .. } => events,
        Mode::Open { events_per_s } => {
            (events_per_s * (load.warmup + load.duration).as_secs_f64()).ceil() as usize
        }
    };
    let mut traffic = Traffic::new(load.seed, sites.to_vec(), Shares::default());
    (0..events.div_ceil(load.batch.max(1)))
        .map(|_| prepare(traffic.next_request(load.batch), sites, load.batch))
        .collect()
}

/// Runs `load` against ingest and reports what it achieved.
pub async fn run(load: &Load) -> anyhow::Result<Summary> {
    let sites = websites(load.websites);
    let client = Arc::new(Client::new(&load.url)?);
    let requests = {
        let (load, sites) = (load.clone(), sites.clone());
        tokio::task::spawn_blocking(move || prepare_all(&load, &sites)).await?
    };
    let events_total = requests.iter().map(|r| r.events).sum();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let probe_tally = Arc::new(Mutex::new(ProbeTally::default()));
    let mut prober = None;
    let started = Instant::now();
    let counted_from = started + load.warmup;
    match load.mode {
        Mode::Closed { concurrency, .. } => {
            let (client, tally) = (client.clone(), tally.clone());
            workers::each(requests, concurrency, move |request| {
                let (client, tally) = (client.clone(), tally.clone());
                async move { send(&client, request, Instant::now(), counted_from, &tally).await }
            })
            .await?;
        }
        Mode::Open { events_per_s } => {
            let interval = Duration::from_secs_f64(load.batch as f64 / events_per_s.max(0.001));
            let end = started + load.warmup + load.duration;
            if let Some(probe) = &load.probe {
                let (probe, ingest, site) = (probe.clone(), client.clone(), sites[0].clone());
                let (from, probes) = (counted_from, probe_tally.clone());
                prober = Some(tokio::spawn(async move {
                    run_probes(&probe, &ingest, &site, from, end, &probes).await
                }));
            }
            // Bounds memory and sockets if ingest stops answering; a request that waits for
            // a slot still has its latency counted from when it was due.
            let slots = Arc::new(Semaphore::new(4_096));
            let mut due = started;
            for request in requests {
                tokio::time::sleep_until(due).await;
                let slot = slots.clone().acquire_owned().await?;
                let (client, tally) = (client.clone(), tally.clone());
                tokio::spawn(async move {
                    send(&client, request, due, counted_from, &tally).await;
                    drop(slot);
                });
                due += interval;
            }
            // Every request has finished when every slot is free again.
            let _all = slots.acquire_many(4_096).await?;
        }
    }
    if let Some(prober) = prober {
        prober.await??;
    }
    let seconds = Instant::now()
        .duration_since(counted_from)
        .as_secs_f64()
        .max(0.001);
    let mut tally = std::mem::take(&mut *lock(&tally));
    Ok(Summary {
        mode: match load.mode {
            Mode::Closed { .. } => "closed".into(),
            Mode::Open { .. } => "open".into(),
        },
        batch: load.batch,
        target_events_per_s: match load.mode {
            Mode::Open { events_per_s } => Some(events_per_s),
            Mode::Closed { .. } => None,
        },
        concurrency: match load.mode {
            Mode::Closed { concurrency, .. } => Some(concurrency),
            Mode::Open { .. } => None,
        },
        seconds,
        requests: tally.requests,
        events_total,
        events_sent: tally.events_sent,
        events_accepted: tally.events_accepted,
        requests_per_s: tally.requests as f64 / seconds,
        events_per_s: tally.events_accepted as f64 / seconds,
        statuses: tally.statuses,
        transport_errors: tally.transport_errors,
        latency_ms: Percentiles::of(&mut tally.latencies_us),
        freshness: load.probe.as_ref().map(|_| {
            let mut probes = std::mem::take(&mut *lock(&probe_tally));
            Freshness {
                probes: probes.visible_us.len() as u64 + probes.lost + probes.failed(),
                lost: probes.lost,
                failed: probes.failed(),
                failures: probes.failures,
                visible_after_ms: Percentiles::of(&mut probes.visible_us),
            }
        }),
    })
}

#[derive(Default)]
struct ProbeTally {
    visible_us: Vec<u32>,
    lost: u64,
    failures: BTreeMap<String, u64>,
}

impl ProbeTally {
    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Starts `probe.per_s` probes a second from `from` until `end`, each on its own task (a slow
/// one does not delay the next), and waits for them all.
async fn run_probes(
    probe: &Probe,
    ingest: &Arc<Client>,
    site: &Website,
    from: Instant,
    end: Instant,
    tally: &Arc<Mutex<ProbeTally>>,
) -> anyhow::Result<()> {
    let query = Arc::new(Client::new(&probe.url)?);
    let interval = Duration::from_secs_f64(1.0 / probe.per_s.max(0.001));
    let mut due = from;
    let mut probes = tokio::task::JoinSet::new();
    while due < end {
        tokio::time::sleep_until(due).await;
        let (ingest, query, tally) = (ingest.clone(), query.clone(), tally.clone());
        let (site, token) = (site.clone(), probe.token.clone());
        probes.spawn(async move {
            let outcome = probe_once(&ingest, &query, &token, &site).await;
            let mut tally = lock(&tally);
            match outcome {
                ProbeOutcome::Visible(after) => tally
                    .visible_us
                    .push(u32::try_from(after.as_micros()).unwrap_or(u32::MAX)),
                ProbeOutcome::Lost => tally.lost += 1,
                ProbeOutcome::Failed(why) => *tally.failures.entry(why).or_default() += 1,
            }
        });
        due += interval;
    }
    while probes.join_next().await.transpose()?.is_some() {}
    Ok(())
}

enum ProbeOutcome {
    Visible(Duration),
    Lost,
    /// Why.
    Failed(String),
}

/// `service status`, or `service: no answer` (connection error, timeout).
fn failure(service: &str, answer: &anyhow::Result<crate::client::Answer>) -> String {
    match answer {
        Ok(answer) => format!("{service} {}", answer.status),
        Err(_) => format!("{service}: no answer"),
    }
}

/// One probe: a new conversation's widget load, sent alone, then read back until it shows.
async fn probe_once(ingest: &Client, query: &Client, token: &str, site: &Website) -> ProbeOutcome {
    let conversation = format!("probe-{}", uuid::Uuid::new_v4());
    let event = serde_json::json!({
        "event_id": uuid::Uuid::new_v4(),
        "type": "widget.loaded",
        "conversation_id": conversation,
        "payload": {"page_url": site.pages[0]},
    });
    let body = serde_json::to_vec(&event).unwrap_or_default();
    match ingest.post("/v1/events", &site.write_key, &body).await {
        Ok(answer) if answer.status == 200 => {}
        other => return ProbeOutcome::Failed(failure("ingest", &other)),
    }
    let acknowledged = Instant::now();
    let path = format!("/v1/conversations/{conversation}?website_id={}", site.id);
    loop {
        match query.get(&path, token).await {
            Ok(answer) if answer.status == 200 => {
                return ProbeOutcome::Visible(acknowledged.elapsed());
            }
            Ok(answer) if answer.status == 404 => {}
            other => return ProbeOutcome::Failed(failure("query-api", &other)),
        }
        if acknowledged.elapsed() > PROBE_GIVE_UP {
            return ProbeOutcome::Lost;
        }
        tokio::time::sleep(probe_poll(acknowledged.elapsed())).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Percentiles, probe_poll};

    #[test]
    fn probes_ask_every_10_ms_then_every_tenth_of_their_wait() {
        let ms = Duration::from_millis;
        assert_eq!(probe_poll(ms(0)), ms(10));
        assert_eq!(probe_poll(ms(99)), ms(10));
        assert_eq!(probe_poll(ms(400)), ms(40));
        assert_eq!(probe_poll(ms(10_000)), ms(1_000));
    }

    #[test]
    fn percentiles_are_values_that_were_measured() {
        let mut latencies: Vec<u32> = (1..=1000).rev().map(|ms| ms * 1000).collect();
        let p = Percentiles::of(&mut latencies);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (500.0, 900.0, 990.0, 1000.0));
        assert_eq!(Percentiles::of(&mut []).p99, 0.0);
    }
}
