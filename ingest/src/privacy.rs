//! What ingest does for privacy before an event reaches the topic: anonymising IP addresses
//! for websites that ask for it, honouring a visitor's opt-out, and the daily-salted visitor
//! hash that lets unique visitors be counted without keeping addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{NaiveDate, Utc};
use schemas::{Consent, Event, Payload};
use sqlx::PgPool;
use uuid::Uuid;

/// Which websites have their visitors' IP addresses anonymised: those configured so
/// (`INGEST_ANONYMIZE_IP`), unless an admin set it otherwise through the API
/// (`website.privacy_changed`, reloaded from the read models with the write keys); and which
/// have turned recording their visitors' countries off.
#[derive(Debug, Default)]
pub struct PrivacySettings {
    configured: Vec<String>,
    stored: RwLock<HashMap<String, StoredPrivacy>>,
}

/// A website's privacy settings as an admin made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPrivacy {
    pub anonymize_ip: bool,
    pub record_country: bool,
}

impl PrivacySettings {
    /// `configured`: website ids, or `*` for every website.
    pub fn new(configured: Vec<String>) -> Self {
        Self {
            configured,
            stored: RwLock::default(),
        }
    }

    pub fn anonymizes_ip(&self, website_id: &str) -> bool {
        let stored = self.stored.read().unwrap_or_else(|p| p.into_inner());
        match stored.get(website_id) {
            Some(setting) => setting.anonymize_ip,
            None => self.configured.iter().any(|w| w == "*" || w == website_id),
        }
    }

    /// Whether the website's events record the visitor's country: yes unless an admin said no.
    pub fn records_country(&self, website_id: &str) -> bool {
        let stored = self.stored.read().unwrap_or_else(|p| p.into_inner());
        stored.get(website_id).is_none_or(|s| s.record_country)
    }

    /// Adds one website's settings, read with its key ([`crate::websites::KeyLookup`]).
    pub fn add_stored(&self, website_id: &str, settings: StoredPrivacy) {
        self.stored
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(website_id.to_owned(), settings);
    }

    /// Replaces the settings admins made with the latest list.
    pub fn set_stored(&self, settings: impl IntoIterator<Item = (String, StoredPrivacy)>) {
        *self.stored.write().unwrap_or_else(|p| p.into_inner()) = settings.into_iter().collect();
    }
}

/// IPv4 with the last octet zeroed, IPv6 cut to its /48 (the network, not the host).
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let kept = u128::from(v6) & (u128::MAX << 80);
            IpAddr::V6(Ipv6Addr::from(kept))
        }
    }
}

/// The browser asked not to be tracked: `DNT: 1` or `Sec-GPC: 1` (Global Privacy Control).
pub fn opted_out(headers: &HeaderMap) -> bool {
    ["dnt", "sec-gpc"].iter().any(|h| {
        headers
            .get(*h)
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
    })
}

/// Removes what identifies the visitor from an event whose visitor opted out: IP, user agent,
/// customer id, metadata, and the query and fragment of the page URL. What the visitor
/// deliberately sends to the website (messages, a contact form) is the service itself and
/// stays. The event is still counted, as its conversation.
pub fn strip_identifiers(event: &mut Event) {
    let context = &mut event.context;
    context.consent = Some(Consent::Denied);
    context.ip = None;
    context.user_agent = None;
    context.visitor = None;
    context.metadata.clear();
    if let Some(url) = &mut context.page_url
        && let Some(cut) = url.find(['?', '#'])
    {
        url.truncate(cut);
    }
    match &mut event.payload {
        Payload::WidgetLoaded(p) => p.customer_id = None,
        Payload::ConversationStarted(p) => p.customer_id = None,
        Payload::MessageSent(p) => p.customer_id = None,
        Payload::CtaClicked(p) => p.customer_id = None,
        Payload::ContactIdentified(p) => p.customer_id = None,
        _ => {}
    }
}

/// `website`, `ip` and `user_agent` hashed with the day's salt: the same visitor on the same
/// day gets the same value; without the salt (discarded after the day) it says nothing.
pub fn visitor_hash(
    salt: &[u8; 32],
    website: &str,
    ip: IpAddr,
    user_agent: Option<&str>,
) -> String {
    let ip = ip.to_string();
    salted(salt, &[website, &ip, user_agent.unwrap_or_default()])
}

/// A customer id the client named, hashed like [`visitor_hash`]: the same customer on the
/// same day is one visitor whatever device or address they come from.
pub fn customer_hash(salt: &[u8; 32], website: &str, customer_id: &str) -> String {
    salted(salt, &[website, "customer", customer_id])
}

/// `parts`, NUL-separated, as a name-based UUID (SHA-1) in the salt's namespace: no new
/// dependency, and 122 bits are plenty for telling a day's visitors apart.
fn salted(salt: &[u8; 32], parts: &[&str]) -> String {
    let namespace = Uuid::from_slice(&salt[..16]).unwrap_or(Uuid::nil());
    let mut name = salt[16..].to_vec();
    name.extend_from_slice(parts.join("\0").as_bytes());
    Uuid::new_v5(&namespace, &name).simple().to_string()
}

/// The visitor salts of today and yesterday (events near midnight), shared by every ingest
/// instance through Postgres when it is configured, so they hash a visitor alike. Older salts
/// are deleted: after that, a day's hashes cannot be recomputed from an address.
#[derive(Debug, Default)]
pub struct DailySalts {
    salts: RwLock<HashMap<NaiveDate, [u8; 32]>>,
}

fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    salt[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    salt[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    salt
}

impl DailySalts {
    /// The salt of `day`; a new random one (local to this process until the shared one is
    /// loaded) when none is known yet.
    pub fn for_day(&self, day: NaiveDate) -> [u8; 32] {
        if let Some(salt) = self.read().get(&day) {
            return *salt;
        }
        *self
            .salts
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(day)
            .or_insert_with(random_salt)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<NaiveDate, [u8; 32]>> {
        self.salts.read().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, day: NaiveDate, salt: [u8; 32]) {
        let mut salts = self.salts.write().unwrap_or_else(|p| p.into_inner());
        salts.insert(day, salt);
        salts.retain(|d, _| *d >= day - chrono::Days::new(2));
    }

    /// Agrees on today's and tomorrow's salts with the other instances through
    /// `colloquy.visitor_salts`, every `interval`, and deletes the ones older than yesterday.
    /// While Postgres is unreachable, or before the projector created the table (its metadata
    /// migrations), the local salts are used.
    pub async fn spawn_sync(self: Arc<Self>, pool: PgPool, interval: Duration) {
        // Once before ingest serves, so a fresh instance hashes with the shared salt from its
        // first event (within a bound: Postgres being down must not stop ingest starting).
        let _ = tokio::time::timeout(crate::FIRST_LOAD_WAIT, self.sync(&pool)).await;
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                match self.sync(&pool).await {
                    Ok(()) => failing = false,
                    Err(error) if !failing => {
                        failing = true;
                        tracing::warn!(%error, "cannot share visitor salts; using local ones");
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(interval).await;
            }
        });
    }

    pub async fn sync(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let today = Utc::now().date_naive();
        for day in [today, today + chrono::Days::new(1)] {
            // The first instance to get here decides; the others adopt its salt.
            let salt: Vec<u8> = sqlx::query_scalar(
                "WITH new AS (
                    INSERT INTO colloquy.visitor_salts (day, salt) VALUES ($1, $2)
                    ON CONFLICT (day) DO NOTHING RETURNING salt)
                 SELECT salt FROM new
                 UNION ALL SELECT salt FROM colloquy.visitor_salts WHERE day = $1
                 LIMIT 1",
            )
            .bind(day)
            .bind(random_salt().to_vec())
            .fetch_one(pool)
            .await?;
            if let Ok(salt) = <[u8; 32]>::try_from(salt.as_slice()) {
                self.set(day, salt);
            }
        }
        sqlx::query("DELETE FROM colloquy.visitor_salts WHERE day < $1")
            .bind(today - chrono::Days::new(1))
            .execute(pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_loses_its_last_octet_and_ipv6_keeps_its_48_bit_network() {
        assert_eq!(anonymize(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(
            anonymize(ip("2001:db8:abcd:12:34:56:78:9a")),
            ip("2001:db8:abcd::")
        );
    }

    #[test]
    fn do_not_track_and_global_privacy_control_are_opt_outs() {
        let mut headers = HeaderMap::new();
        assert!(!opted_out(&headers));
        headers.insert("dnt", HeaderValue::from_static("0"));
        assert!(!opted_out(&headers));
        headers.insert("sec-gpc", HeaderValue::from_static("1"));
        assert!(opted_out(&headers));
    }

    #[test]
    fn a_visitor_hash_is_stable_within_a_day_and_differs_across_days_and_visitors() {
        let (monday, tuesday) = (random_salt(), random_salt());
        let a = visitor_hash(&monday, "shop", ip("203.0.113.7"), Some("Firefox"));
        assert_eq!(
            a,
            visitor_hash(&monday, "shop", ip("203.0.113.7"), Some("Firefox"))
        );
        assert_ne!(
            a,
            visitor_hash(&tuesday, "shop", ip("203.0.113.7"), Some("Firefox"))
        );
        assert_ne!(
            a,
            visitor_hash(&monday, "shop", ip("203.0.113.8"), Some("Firefox"))
        );
        assert_ne!(
            a,
            visitor_hash(&monday, "blog", ip("203.0.113.7"), Some("Firefox"))
        );
        // Only a digest leaves: 32 hex digits, never the address. (A check for "203" in it
        // failed on 0.7% of salts, where the digits happened to contain it.)
        assert!(!a.contains("203.0.113.7"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
    }

    #[test]
    fn a_day_keeps_its_salt_until_a_shared_one_replaces_it() {
        let salts = DailySalts::default();
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let local = salts.for_day(day);
        assert_eq!(salts.for_day(day), local);
        let shared = random_salt();
        salts.set(day, shared);
        assert_eq!(salts.for_day(day), shared);
    }
}
