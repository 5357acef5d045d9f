//! Outgoing webhooks: the dispatcher that posts what the projector enqueued
//! (`colloquy.webhook_deliveries`) to each endpoint, signed, in order per contact and
//! conversation, retried with backoff, at least once (docs/webhooks.md).
//!
//! - [`signing`]: Standard Webhooks signatures and secrets;
//! - [`guard`]: which destinations are allowed (SSRF);
//! - [`bodies`]: what a delivery says, read from the read models when it is sent;
//! - this module: the configuration and the dispatch loop.

pub mod bodies;
pub mod guard;
pub mod signing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use runtime::config::{ConfigError, Source};
use runtime::wakeup::{self, Signals};
use sqlx::PgPool;
use uuid::Uuid;

use crate::metrics::QueryMetrics;
use crate::store::webhooks::{self as store, Attempt, Claimed, Next};
use guard::{GuardedResolver, Policy};

/// The dispatcher's settings (docs/configuration.md).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// `WEBHOOK_DISPATCH`: run a dispatcher in this process (true). Any number of instances
    /// may: a claim keeps two from sending one delivery at once.
    pub dispatch: bool,
    pub policy: Policy,
    /// `WEBHOOK_CONNECT_TIMEOUT_MS` (5,000).
    pub connect_timeout: Duration,
    /// `WEBHOOK_TIMEOUT_MS`: the whole attempt, answer included (15,000).
    pub timeout: Duration,
    /// `WEBHOOK_MAX_RESPONSE_BYTES`: what is read of an answer (65,536); the rest is dropped.
    pub max_response_bytes: usize,
    /// `WEBHOOK_RETRY_DELAYS_MS`: the wait before each retry, ±20% jitter; after the last, a
    /// delivery has failed. The default retries for a day and a half: 5 s, 5 min, 30 min,
    /// 2 h, 5 h, then 10 h three times.
    pub retry_delays: Vec<Duration>,
    /// `WEBHOOK_DISABLE_AFTER_S`: an endpoint whose every attempt failed for this long is
    /// disabled (5 days).
    pub disable_after: Duration,
    /// `WEBHOOK_SECRET_OVERLAP_S`: how long a rotated-out secret still signs (24 h).
    pub secret_overlap: Duration,
    /// `WEBHOOK_POLL_MS`: the longest an idle dispatcher sleeps (5,000); queued deliveries wake
    /// it, and it sleeps only until the next retry is due.
    pub poll: Duration,
    /// `WEBHOOK_CONCURRENCY`: deliveries one dispatcher sends at once (8).
    pub concurrency: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            dispatch: true,
            policy: Policy::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_response_bytes: 64 * 1024,
            retry_delays: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
                minutes(600),
            ],
            disable_after: Duration::from_secs(5 * 24 * 3600),
            secret_overlap: Duration::from_secs(24 * 3600),
            poll: Duration::from_secs(5),
            concurrency: 8,
        }
    }
}

impl WebhookConfig {
    pub fn from_source(env: &impl Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        let ms = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            Ok(Duration::from_millis(env.parse_or(name, default)?))
        };
        let secs = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(env.parse_or(name, default.as_secs())?))
        };
        let retry_delays = match env.get("WEBHOOK_RETRY_DELAYS_MS") {
            Some(list) if !list.trim().is_empty() => list
                .split(',')
                .map(|v| v.trim().parse().map(Duration::from_millis))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::Invalid {
                    name: "WEBHOOK_RETRY_DELAYS_MS".into(),
                    message: format!("a comma-separated list of milliseconds: {e}"),
                })?,
            _ => d.retry_delays,
        };
        Ok(Self {
            dispatch: env.parse_or("WEBHOOK_DISPATCH", d.dispatch)?,
            policy: Policy {
                allow_http: env.parse_or("WEBHOOK_ALLOW_HTTP", false)?,
                allow_private: env.parse_or("WEBHOOK_ALLOW_PRIVATE", false)?,
            },
            connect_timeout: ms("WEBHOOK_CONNECT_TIMEOUT_MS", d.connect_timeout)?,
            timeout: ms("WEBHOOK_TIMEOUT_MS", d.timeout)?,
            max_response_bytes: env.parse_or("WEBHOOK_MAX_RESPONSE_BYTES", d.max_response_bytes)?,
            retry_delays,
            disable_after: secs("WEBHOOK_DISABLE_AFTER_S", d.disable_after)?,
            secret_overlap: secs("WEBHOOK_SECRET_OVERLAP_S", d.secret_overlap)?,
            poll: ms("WEBHOOK_POLL_MS", d.poll)?,
            concurrency: env.parse_or("WEBHOOK_CONCURRENCY", d.concurrency)?.max(1),
        })
    }

    /// The client every delivery goes through: no redirects, the timeouts, and every
    /// connection's addresses checked ([`GuardedResolver`]).
    pub fn client(&self) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .dns_resolver(GuardedResolver::shared(self.policy))
            .user_agent(concat!("Colloquy-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// The shortest an idle dispatcher sleeps: a delivery that fell due between its claim and
/// reading when the next is due is claimed this much later.
const SOONEST: Duration = Duration::from_millis(10);
/// How long the dispatcher waits after Postgres refused a claim (at most `poll`).
const FAILED_CLAIM: Duration = Duration::from_secs(1);

/// Runs the dispatcher until the process ends, counting its attempts in `metrics`.
pub fn spawn(
    pool: PgPool,
    config: WebhookConfig,
    metrics: Arc<QueryMetrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match config.client() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "cannot build the webhook client: nothing is sent");
                return;
            }
        };
        // A claim outlives the attempt (reading the body, the request, recording it), so no
        // other dispatcher takes it while it is in flight; a dispatcher that died leaves it
        // for this long.
        let lease = config.timeout * 2 + Duration::from_secs(5);
        // Idle, it sleeps until the next retry is due or deliveries are queued (announced,
        // [`runtime::wakeup::WEBHOOKS`]), looking anyway every `poll`.
        let mut queued = Signals::listen(&pool, &[wakeup::WEBHOOKS]).wake(wakeup::WEBHOOKS);
        loop {
            queued.seen();
            let claimed = match store::claim(&pool, config.concurrency as i64, lease).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim webhook deliveries");
                    tokio::time::sleep(config.poll.min(FAILED_CLAIM)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                let due = match store::next_due(&pool).await {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default(),
                    Ok(None) | Err(_) => config.poll,
                };
                queued.wait(due.max(SOONEST).min(config.poll)).await;
                continue;
            }
            let sends = claimed
                .iter()
                .map(|c| deliver(&pool, &client, &config, &metrics, c));
            futures::future::join_all(sends).await;
        }
    })
}

/// One attempt of `claimed`, recorded.
async fn deliver(
    pool: &PgPool,
    client: &reqwest::Client,
    config: &WebhookConfig,
    metrics: &QueryMetrics,
    c: &Claimed,
) {
    let attempt = match bodies::data(pool, c).await {
        Ok(Ok(data)) => match bodies::body(c, &data) {
            Ok(body) => post(pool, client, config, metrics, c, body).await,
            Err(error) => failed(None, 0, format!("cannot write the body: {error}")),
        },
        Ok(Err(gone)) => Attempt {
            status: None,
            latency_ms: 0,
            error: Some(match gone {
                bodies::Gone::Erased => "the contact was erased".into(),
                bodies::Gone::Missing(what) => format!("the {what} is not in the read models"),
            }),
            next: Next::Dropped,
        },
        // The database: try again on the schedule, like a failed attempt.
        Err(error) => retry(
            config,
            c,
            None,
            0,
            format!("cannot read the body: {error}"),
            None,
        ),
    };
    if let Some(error) = &attempt.error {
        tracing::info!(delivery = %c.delivery_id, endpoint = %c.endpoint_id, %error,
                       "webhook attempt failed");
    }
    match store::finish(pool, c, &attempt, config.disable_after).await {
        Ok(()) => metrics.attempt(&attempt.next),
        // The claim ends by itself; the delivery is tried again then (at least once).
        Err(error) => {
            tracing::warn!(%error, delivery = %c.delivery_id, "cannot record a webhook attempt")
        }
    }
}

async fn post(
    pool: &PgPool,
    client: &reqwest::Client,
    config: &WebhookConfig,
    metrics: &QueryMetrics,
    c: &Claimed,
    body: Vec<u8>,
) -> Attempt {
    if let Err(why) = config.policy.check_url(&c.url) {
        return failed(None, 0, format!("the endpoint's URL is refused: {why}"));
    }
    let secrets = match store::secrets(pool, c.endpoint_id).await {
        Ok(secrets) if !secrets.is_empty() => secrets,
        Ok(_) => return failed(None, 0, "the endpoint has no signing secret".into()),
        Err(error) => return retry(config, c, None, 0, format!("secrets: {error}"), None),
    };
    let id = c.delivery_id.to_string();
    let timestamp = Utc::now().timestamp();
    let signature = signing::signature(&secrets, &id, timestamp, &body);
    let started = Instant::now();
    let sent = client
        .post(&c.url)
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let elapsed =
        |started: Instant| i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => {
            metrics
                .webhook_attempt_seconds
                .observe(started.elapsed().as_secs_f64());
            let why = describe(&error);
            return retry(config, c, None, elapsed(started), why, None);
        }
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    // Read (and drop) at most the cap of the answer, so a huge one costs nothing.
    let mut read = 0;
    while read < config.max_response_bytes {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    metrics
        .webhook_attempt_seconds
        .observe(started.elapsed().as_secs_f64());
    let latency = elapsed(started);
    let code = Some(i32::from(status.as_u16()));
    if status.is_success() {
        Attempt {
            status: code,
            latency_ms: latency,
            error: None,
            next: Next::Delivered,
        }
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        retry(config, c, code, latency, format!("answered {status}"), wait)
    } else if status.is_redirection() {
        failed(
            code,
            latency,
            format!("answered {status}: redirects are not followed"),
        )
    } else {
        failed(code, latency, format!("answered {status}: not retried"))
    }
}

fn describe(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut why = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    why
}

fn failed(status: Option<i32>, latency_ms: i32, error: String) -> Attempt {
    Attempt {
        status,
        latency_ms,
        error: Some(error),
        next: Next::Failed,
    }
}

/// A failure worth another attempt: on the schedule (with jitter), or later when the endpoint
/// asked (`Retry-After`, at most a day); failed once the schedule is spent.
fn retry(
    config: &WebhookConfig,
    c: &Claimed,
    status: Option<i32>,
    latency_ms: i32,
    error: String,
    asked: Option<Duration>,
) -> Attempt {
    let round = usize::try_from(c.round_attempts).unwrap_or(usize::MAX);
    let Some(delay) = config.retry_delays.get(round.saturating_sub(1)) else {
        return failed(status, latency_ms, format!("{error} (no retries left)"));
    };
    let delay = jitter(*delay).max(asked.unwrap_or_default().min(Duration::from_secs(86_400)));
    Attempt {
        status,
        latency_ms,
        error: Some(error),
        next: Next::RetryAt(
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
        ),
    }
}

/// `delay` times a random factor in 0.8..1.2, so endpoints that failed together are not all
/// retried at the same moment.
fn jitter(delay: Duration) -> Duration {
    let unit = (Uuid::new_v4().as_u128() % 10_000) as f64 / 10_000.0;
    delay.mul_f64(0.8 + 0.4 * unit)
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at: DateTime<Utc> = DateTime::parse_from_rfc2822(value).ok()?.into();
    (at - Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        let later = (Utc::now() + chrono::Duration::seconds(600)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let got = retry_after(&h).unwrap();
        assert!(
            got > Duration::from_secs(590) && got <= Duration::from_secs(600),
            "{got:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    /// An endpoint whose name resolves to a private address when a delivery is sent (as after
    /// a DNS change once it was registered) is never connected to: the dispatch client checks
    /// the addresses of every connection, not only the registration.
    #[tokio::test]
    async fn the_client_does_not_connect_where_a_name_now_points_inside() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = WebhookConfig {
            policy: Policy {
                allow_http: true,
                allow_private: false,
            },
            ..WebhookConfig::default()
        };
        let error = config
            .client()
            .unwrap()
            .post(format!("http://localhost:{port}/hook"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        assert!(
            describe(&error).contains("not a public address"),
            "{error:?}"
        );
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the listener was connected to");
    }

    #[test]
    fn jitter_stays_within_a_fifth_of_the_delay() {
        for _ in 0..1_000 {
            let j = jitter(Duration::from_secs(100));
            assert!(
                j >= Duration::from_secs(80) && j <= Duration::from_secs(120),
                "{j:?}"
            );
        }
    }

    #[test]
    fn the_default_schedule_retries_for_more_than_a_day_even_with_jitter() {
        let total: Duration = WebhookConfig::default().retry_delays.iter().sum();
        assert!(
            total.mul_f64(0.8) > Duration::from_secs(86_400),
            "{total:?}"
        );
    }
}
