//! The visitor's country, from their address, looked up in an IP-to-country database in
//! MaxMind's MMDB format (`INGEST_COUNTRY_DB`): the openly licensed one `deploy/dev` installs,
//! or MaxMind's GeoLite2/GeoIP2 Country. The file is read again when it changes, so a newer
//! database is dropped in without a restart.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use maxminddb::Reader;
use serde::Deserialize;

/// The database, when one is configured.
#[derive(Debug, Default)]
pub struct Countries {
    path: Option<PathBuf>,
    loaded: RwLock<Option<Arc<Loaded>>>,
}

#[derive(Debug)]
struct Loaded {
    reader: Reader<Vec<u8>>,
    modified: Option<SystemTime>,
}

/// A record of either kind of database: ip-location-db's `country_code`, or GeoIP2's
/// `country.iso_code`.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

impl Countries {
    /// No database: no event gets a country.
    pub fn none() -> Self {
        Self::default()
    }

    /// Opens the database at `path`. A file that is missing or not an MMDB database is an
    /// error at start, not a silent absence of countries.
    pub fn open(path: &Path) -> Result<Self, String> {
        let loaded = load(path)?;
        Ok(Self {
            path: Some(path.to_owned()),
            loaded: RwLock::new(Some(Arc::new(loaded))),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.path.is_some()
    }

    /// The ISO 3166-1 alpha-2 code of `ip`'s country. None for an address no country owns
    /// (private, loopback, link-local, documentation, shared, multicast), and for one the
    /// database does not place: never a guess.
    pub fn lookup(&self, ip: IpAddr) -> Option<String> {
        if !is_public(ip) {
            return None;
        }
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let found = loaded.reader.lookup(ip).ok()?;
        let record: Record = found.decode().ok()??;
        let code = record
            .country_code
            .or(record.country.and_then(|c| c.iso_code))?;
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| code.to_ascii_uppercase())
    }

    /// Reads the file again when its modification time changed; a file that cannot be read
    /// keeps the database already loaded.
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let current = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if current.is_some_and(|c| c.modified == modified) {
            return;
        }
        match load(path) {
            Ok(loaded) => {
                tracing::info!(path = %path.display(), "country database reloaded");
                *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(loaded));
            }
            Err(error) => {
                tracing::warn!(%error, "cannot reload the country database; keeping the one loaded")
            }
        }
    }

    /// Checks the file for a newer version every `interval`, until the runtime stops.
    pub fn spawn_reload(self: Arc<Self>, interval: Duration) {
        if self.path.is_none() {
            return;
        }
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let countries = self.clone();
                // Reading a database of several megabytes blocks.
                let _ = tokio::task::spawn_blocking(move || countries.reload_if_changed()).await;
            }
        });
    }
}

fn load(path: &Path) -> Result<Loaded, String> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let reader = Reader::open_readfile(path)
        .map_err(|e| format!("cannot read the country database {}: {e}", path.display()))?;
    Ok(Loaded { reader, modified })
}

/// Whether `ip` is a public unicast address, which some country's network owns.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (b & 0xc0) == 64)
                // Benchmarking, 198.18.0.0/15.
                || (a == 198 && (b & 0xfe) == 18)
                // IETF protocol assignments, 192.0.0.0/24, and reserved, 240.0.0.0/4.
                || (a == 192 && b == 0 && c == 0)
                || a >= 240
                || a == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            // Global unicast is 2000::/3; documentation 2001:db8::/32 is not anyone's.
            (first & 0xe000) == 0x2000 && !(first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_no_country_owns_are_not_public() {
        for s in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.7",
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "193.0.6.139",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn without_a_database_no_address_has_a_country() {
        assert_eq!(Countries::none().lookup(ip("8.8.8.8")), None);
    }

    #[test]
    fn a_missing_database_is_an_error_at_start() {
        let error = Countries::open(Path::new("/nonexistent/countries.mmdb")).unwrap_err();
        assert!(error.contains("/nonexistent/countries.mmdb"), "{error}");
    }
}
