//! An optional per-write-key rate limit, in events per second with a burst allowance (a token
//! bucket per website). Over the limit a request is answered 429 with `Retry-After` and nothing
//! of it is stored, so a retry later is safe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    /// Events per second; `None` means unlimited.
    rate: Option<f64>,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// `events_per_s` of 0 turns the limit off; `burst` is how many events may come at once.
    pub fn new(events_per_s: f64, burst: u32) -> Self {
        let rate = (events_per_s > 0.0).then_some(events_per_s);
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `events` tokens from the website's bucket, or says how long until they are there.
    pub fn check(&self, website: &str, events: usize, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.rate else { return Ok(()) };
        let wanted = events as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(website.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            Ok(())
        } else {
            // A request larger than the burst can never pass whole; it waits as if for a full bucket.
            let missing = wanted.min(self.burst) - bucket.tokens;
            Err(Duration::from_secs_f64(missing / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_event_waits_for_a_token() {
        let limiter = RateLimiter::new(2.0, 4);
        let t0 = Instant::now();
        assert!(limiter.check("a", 4, t0).is_ok());
        let wait = limiter.check("a", 1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limiter
                .check("a", 1, t0 + Duration::from_millis(500))
                .is_ok()
        );
    }

    #[test]
    fn websites_have_their_own_buckets() {
        let limiter = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        assert!(limiter.check("a", 1, t0).is_ok());
        assert!(limiter.check("b", 1, t0).is_ok());
        assert!(limiter.check("a", 1, t0).is_err());
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limiter = RateLimiter::new(0.0, 1);
        assert!(limiter.check("a", 1_000_000, Instant::now()).is_ok());
    }
}
