//! Admin authentication and tenancy: `Authorization: Bearer <token>` on every admin route.
//!
//! The bootstrap token from configuration sees every website. Tokens created through
//! `POST /v1/tokens` see only the websites they were created for; they are known by a digest
//! (the `api_tokens` read model, projected from `token.created`), never stored in clear.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use runtime::client_ip::client_ip;

use crate::AppState;
use crate::error::ApiError;
use crate::store::tokens;

/// Namespace of token digests.
const DIGEST_NAMESPACE: Uuid = Uuid::from_u128(0x2b7d_91c4_5e0a_4f3b_8d16_a9e2_c47f_0b58);

/// The digest a token is known by: a name-based (SHA-1) UUID. Tokens are 244 random bits, so
/// a digest cannot be turned back into one.
pub fn digest(token: &str) -> String {
    Uuid::new_v5(&DIGEST_NAMESPACE, token.as_bytes()).to_string()
}

/// A new random token.
pub fn new_token() -> String {
    format!("cq_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// What a request's token may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The bootstrap token: every website.
    All,
    /// A created token: these websites only.
    Websites(Vec<String>),
}

impl Scope {
    pub fn allows(&self, website_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Websites(w) => w.iter().any(|x| x == website_id),
        }
    }

    /// The websites to filter by in SQL (`website_id = ANY($n)`), `None` for all of them.
    pub fn websites(&self) -> Option<&[String]> {
        match self {
            Scope::All => None,
            Scope::Websites(w) => Some(w),
        }
    }

    /// The websites a request may read: the one it names, if in scope, else every one in scope.
    /// A website outside the scope is not found rather than forbidden, so a token cannot probe
    /// which websites exist.
    pub fn narrow(&self, website_id: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
        match website_id {
            Some(w) if self.allows(w) => Ok(Some(vec![w.to_owned()])),
            Some(_) => Err(ApiError::NotFound("website")),
            None => Ok(self.websites().map(<[String]>::to_vec)),
        }
    }
}

/// Proof that the request carried a live admin token, and what it may see and do.
#[derive(Debug, Clone)]
pub struct Admin {
    pub scope: Scope,
    /// The digest of the token ([`digest`]): what per-token limits count by.
    pub token: String,
    /// Who acts, as admin events record it ([`schemas::Context::actor`]): [`BOOTSTRAP`], or
    /// the created token's digest.
    pub actor: String,
    /// Whether it may create tokens.
    pub may_mint: bool,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The actor name of the bootstrap token (`ADMIN_TOKEN`).
pub const BOOTSTRAP: &str = "bootstrap";

/// Authenticates once per request: the freshness middleware does it before any other database
/// work, and the handler's `Admin` is that one.
impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(admin) = parts.extensions.get::<Admin>() {
            return Ok(admin.clone());
        }
        let admin = authenticate(parts, state).await?;
        parts.extensions.insert(admin.clone());
        Ok(admin)
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Admin, ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    // The peer's address, or the client's a trusted proxy forwarded (docs/configuration.md).
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = client_ip(peer, &parts.headers, &state.trusted_proxies);
    let now = Instant::now();
    if let Some(seconds) = client.and_then(|ip| state.auth_failures.blocked(ip, now)) {
        return Err(ApiError::TooManyFailures(seconds));
    }
    let failed = || {
        tracing::warn!(
            client = client.map(|ip| ip.to_string()).unwrap_or_default(),
            path = parts.uri.path(),
            "wrong admin token"
        );
        if let Some(ip) = client {
            state.auth_failures.record(ip, now);
        }
        ApiError::Unauthorized
    };
    if same_token(token, &state.admin_token) {
        return Ok(Admin {
            scope: Scope::All,
            token: digest(token),
            actor: BOOTSTRAP.into(),
            may_mint: true,
            expires_at: None,
        });
    }
    if !token.starts_with("cq_") {
        return Err(failed());
    }
    // The digest is looked up by equality; it reveals nothing about the token it came from.
    // An expired or revoked token is as unknown as a wrong one.
    let token = digest(token);
    let grant = tokens::grant(&state.pool, &token)
        .await?
        .ok_or_else(failed)?;
    if state.token_uses.due(&token, now) {
        let (pool, token) = (state.pool.clone(), token.clone());
        tokio::spawn(async move {
            if let Err(error) = tokens::record_use(&pool, &token).await {
                tracing::warn!(%error, "cannot note a token's use");
            }
        });
    }
    Ok(Admin {
        scope: Scope::Websites(grant.websites),
        actor: token.clone(),
        token,
        may_mint: grant.may_mint,
        expires_at: grant.expires_at,
    })
}

/// When each created token's use was last noted, so that it is written at most once a
/// [`TokenUses::EVERY`] per token and instance.
#[derive(Debug, Default)]
pub struct TokenUses {
    noted: Mutex<HashMap<String, Instant>>,
}

impl TokenUses {
    const EVERY: Duration = Duration::from_secs(60);

    /// Whether a use of `digest` at `now` should be written; if so, it counts as written.
    fn due(&self, digest: &str, now: Instant) -> bool {
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        match noted.get(digest) {
            Some(&at) if now.duration_since(at) < Self::EVERY => false,
            _ => {
                noted.insert(digest.to_owned(), now);
                true
            }
        }
    }
}

/// Wrong admin tokens per client address in a fixed window: past the limit, an address gets
/// 429 with `Retry-After` for the rest of its window, whatever token it sends, so that guessing
/// costs time. A missing token is not a guess and is not counted.
#[derive(Debug)]
pub struct AuthFailures {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Addresses tracked at most: past it, expired windows are dropped, and addresses beyond it
/// are not tracked until some are (memory stays bounded under a spread-out attack).
const MAX_TRACKED: usize = 100_000;

impl AuthFailures {
    /// `limit` wrong tokens an address may send per `window`; 0 turns the limit off.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whole seconds until `ip` may try again, if it used up its wrong tokens.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let &(start, count) = seen.get(&ip)?;
        let left = (start + self.window)
            .checked_duration_since(now)
            .filter(|left| !left.is_zero())?;
        (self.limit > 0 && count >= self.limit).then(|| left.as_secs().max(1))
    }

    fn record(&self, ip: IpAddr, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_TRACKED && !seen.contains_key(&ip) {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
            if seen.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Whether `given` is `token`, without leaking through timing how much of a guess was right,
/// nor how long the token is: the digests compared have one length whatever the tokens'.
fn same_token(given: &str, token: &str) -> bool {
    constant_time_eq(digest(given).as_bytes(), digest(token).as_bytes())
}

/// Compares every byte whatever the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_match_and_different_ones_do_not() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abcd"));
        assert!(!same_token("", "abc"));
    }

    #[test]
    fn an_address_is_refused_for_the_rest_of_its_window_after_its_wrong_tokens() {
        let failures = AuthFailures::new(3, Duration::from_secs(60));
        let (ip, other) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(failures.blocked(ip, t0), None);
            failures.record(ip, t0);
        }
        assert_eq!(failures.blocked(ip, t0 + Duration::from_secs(20)), Some(40));
        assert_eq!(failures.blocked(other, t0), None);
        // A new window starts afresh.
        assert_eq!(failures.blocked(ip, t0 + Duration::from_secs(60)), None);
        failures.record(ip, t0 + Duration::from_secs(61));
        assert_eq!(failures.blocked(ip, t0 + Duration::from_secs(61)), None);
        // 0 turns the limit off.
        let off = AuthFailures::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            off.record(ip, t0);
        }
        assert_eq!(off.blocked(ip, t0), None);
    }

    #[test]
    fn a_scoped_token_sees_its_websites_and_nothing_else() {
        let scope = Scope::Websites(vec!["a".into()]);
        assert!(scope.allows("a"));
        assert!(!scope.allows("b"));
        assert_eq!(scope.narrow(None).unwrap(), Some(vec!["a".to_owned()]));
        assert!(matches!(
            scope.narrow(Some("b")),
            Err(ApiError::NotFound(_))
        ));
        assert_eq!(Scope::All.narrow(None).unwrap(), None);
    }

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
