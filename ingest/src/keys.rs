//! Write keys: which website a request writes to. The website comes from the key, never
//! from the request body, so one site cannot write into another's data.

use std::collections::HashMap;
use std::sync::RwLock;

/// A website that may write, and which browser origins may write for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website {
    pub id: String,
    /// Empty: any origin (write keys are public, like PostHog's and Segment's).
    pub allowed_origins: Vec<String>,
}

impl Website {
    /// Server-side clients send no `Origin` and are always allowed.
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(_) if self.allowed_origins.is_empty() => true,
            Some(origin) => self
                .allowed_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/'))),
        }
    }
}

/// Every write key ingest accepts: the bootstrap websites from configuration, plus those
/// created through the admin API (read from the `websites` read model, see
/// [`crate::websites`]). A bootstrap key wins over a created one with the same key.
#[derive(Debug, Default)]
pub struct WriteKeys {
    bootstrap: HashMap<String, Website>,
    created: RwLock<HashMap<String, Website>>,
}

impl WriteKeys {
    /// From `(website_id, write_key)` pairs and per-website origin allow-lists.
    pub fn new(websites: &[(String, String)], allowed_origins: &[(String, Vec<String>)]) -> Self {
        let origins: HashMap<&str, &Vec<String>> = allowed_origins
            .iter()
            .map(|(w, o)| (w.as_str(), o))
            .collect();
        let bootstrap = websites
            .iter()
            .map(|(id, key)| {
                let allowed_origins = origins
                    .get(id.as_str())
                    .map(|o| (*o).clone())
                    .unwrap_or_default();
                (
                    key.clone(),
                    Website {
                        id: id.clone(),
                        allowed_origins,
                    },
                )
            })
            .collect();
        Self {
            bootstrap,
            created: RwLock::default(),
        }
    }

    /// The website a key writes to, if the key is known.
    pub fn website_for(&self, key: &str) -> Option<Website> {
        if let Some(website) = self.bootstrap.get(key) {
            return Some(website.clone());
        }
        self.created
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Adds one created website, looked up when its key first came ([`crate::websites`]).
    pub fn add_created(&self, key: &str, website: Website) {
        self.created
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), website);
    }

    /// Replaces the created websites with the latest `(write_key, website)` list.
    pub fn set_created(&self, websites: impl IntoIterator<Item = (String, Website)>) {
        let fresh: HashMap<String, Website> = websites.into_iter().collect();
        *self.created.write().unwrap_or_else(|p| p.into_inner()) = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_key_maps_to_its_website_and_an_unknown_one_to_none() {
        let keys = WriteKeys::new(&[("demo".to_owned(), "k".to_owned())], &[]);
        assert_eq!(keys.website_for("k").map(|w| w.id), Some("demo".to_owned()));
        assert!(keys.website_for("demo").is_none());
    }

    #[test]
    fn an_allow_list_admits_its_origins_and_server_side_clients_only() {
        let keys = WriteKeys::new(
            &[("shop".to_owned(), "k".to_owned())],
            &[("shop".to_owned(), vec!["https://shop.example".to_owned()])],
        );
        let shop = keys.website_for("k").unwrap();
        assert!(shop.allows_origin(Some("https://shop.example")));
        assert!(shop.allows_origin(None));
        assert!(!shop.allows_origin(Some("https://evil.example")));
    }

    #[test]
    fn created_websites_join_the_bootstrap_ones_and_can_be_replaced() {
        let keys = WriteKeys::new(&[("demo".to_owned(), "k".to_owned())], &[]);
        let shop = Website {
            id: "shop".into(),
            allowed_origins: vec![],
        };
        keys.set_created([
            ("k2".to_owned(), shop.clone()),
            ("k".to_owned(), shop.clone()),
        ]);
        assert_eq!(keys.website_for("k2"), Some(shop));
        assert_eq!(
            keys.website_for("k").unwrap().id,
            "demo",
            "bootstrap keys win"
        );
        keys.set_created([]);
        assert!(keys.website_for("k2").is_none());
    }

    #[test]
    fn without_an_allow_list_every_origin_may_write() {
        let keys = WriteKeys::new(&[("demo".to_owned(), "k".to_owned())], &[]);
        assert!(
            keys.website_for("k")
                .unwrap()
                .allows_origin(Some("https://anywhere.example"))
        );
    }
}

/// The write key of a request, from wherever its client could put it: the `X-Write-Key`
/// header, the `write_key` query parameter (beacons cannot set headers), or the user name of
/// HTTP Basic authentication (what Segment's libraries send).
pub fn write_key_of(headers: &axum::http::HeaderMap, query: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    if let Some(key) = headers.get("x-write-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_owned());
    }
    if let Some(query) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        if let Some((_, key)) = pairs.into_iter().find(|(k, _)| k == "write_key") {
            return Some(key);
        }
    }
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let credentials = String::from_utf8(decoded).ok()?;
    let user = credentials
        .split_once(':')
        .map_or(credentials.as_str(), |(user, _)| user);
    Some(user.to_owned())
}

#[cfg(test)]
mod write_key_tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_key_comes_from_the_header_first() {
        assert_eq!(
            write_key_of(&with("x-write-key", "k1"), Some("write_key=k2")),
            Some("k1".into())
        );
    }

    #[test]
    fn a_beacon_passes_the_key_in_the_query_string() {
        assert_eq!(
            write_key_of(&HeaderMap::new(), Some("a=1&write_key=k%202")),
            Some("k 2".into())
        );
    }

    #[test]
    fn basic_auth_carries_the_key_as_user_name() {
        // base64("k3:") as Segment sends it.
        assert_eq!(
            write_key_of(&with("authorization", "Basic azM6"), None),
            Some("k3".into())
        );
    }

    #[test]
    fn no_key_anywhere_is_none() {
        assert_eq!(write_key_of(&HeaderMap::new(), Some("a=1")), None);
    }
}
