//! The client's IP address. The connection's peer is the client unless it is one of our own
//! trusted proxies, in which case `X-Forwarded-For` (or `X-Real-IP`) names the client. Headers
//! from anyone else are ignored: a browser must not be able to claim another address.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// Networks whose forwarding headers are believed, e.g. `10.0.0.0/8,192.168.1.7`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, prefix) = item
                .split_once('/')
                .map_or((item, None), |(a, p)| (a, Some(p)));
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address or network"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{item:?} has an invalid prefix"))?,
            };
            networks.push((addr, prefix));
        }
        Ok(Self(networks))
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(net, prefix)| in_network(ip, *net, *prefix))
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The client address for a request that arrived from `peer`.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    // Each proxy appends the address it received from: read from the right, skip our own
    // proxies, and the first address that is not one of them is the client.
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if let Some(client) = forwarded.iter().rev().find(|ip| !trusted.contains(**ip)) {
        return Some(*client);
    }
    if let Some(first) = forwarded.first() {
        return Some(*first);
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn networks_match_by_prefix() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.1.7, fd00::/8".parse().unwrap();
        assert!(trusted.contains(ip("10.200.3.4")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(!trusted.contains(ip("2001:db8::1")));
    }

    #[test]
    fn a_bad_entry_is_a_parse_error() {
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let got = client_ip(
            Some(ip("203.0.113.9")),
            &forwarded("1.2.3.4"),
            &TrustedProxies::default(),
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // The client spoofed 6.6.6.6; our proxies saw 198.51.100.2 and then 10.0.0.5.
        let got = client_ip(
            Some(ip("10.0.0.1")),
            &forwarded("6.6.6.6, 198.51.100.2, 10.0.0.5"),
            &trusted,
        );
        assert_eq!(got, Some(ip("198.51.100.2")));
    }

    #[test]
    fn x_real_ip_is_used_from_a_trusted_peer_without_x_forwarded_for() {
        let trusted: TrustedProxies = "127.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("198.51.100.3"));
        assert_eq!(
            client_ip(Some(ip("127.0.0.1")), &h, &trusted),
            Some(ip("198.51.100.3"))
        );
    }
}
