//! Where deliveries may go. An endpoint's URL is checked when it is registered and its host's
//! addresses on every connection, through the HTTP client's resolver, so a name that resolves
//! to a private address (at registration or later) is refused, not followed (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What the operator allows (`WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Plain `http://` URLs.
    pub allow_http: bool,
    /// Loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

impl Policy {
    /// `url` if deliveries may be sent to it, as far as can be told without resolving it.
    pub fn check_url(&self, url: &str) -> Result<Url, String> {
        let parsed = Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err("must be https:// (plain http is not allowed here)".into());
            }
            other => return Err(format!("must be https://, not {other}://")),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        let Some(host) = parsed.host_str() else {
            return Err("has no host".into());
        };
        // An address in the URL is checked here; a name, each time it is resolved.
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            self.check_ip(ip)?;
        }
        Ok(parsed)
    }

    /// Whether an address may be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is not a public address (loopback, private, link-local or reserved): \
                 refused unless WEBHOOK_ALLOW_PRIVATE is set"
            ))
        }
    }

    /// [`Policy::check_url`], and for a name the addresses it resolves to now (they are checked
    /// again on every connection, [`GuardedResolver`]).
    pub async fn check_destination(&self, url: &str) -> Result<Url, String> {
        let parsed = self.check_url(url)?;
        if let Some(host) = parsed.domain() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            self.resolve(host, port).await?;
        }
        Ok(parsed)
    }

    /// Resolves `host` and checks every address it has: one private answer refuses the host,
    /// so a name that resolves both ways cannot slip through.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} has no address"));
        }
        for a in &addrs {
            self.check_ip(a.ip())
                .map_err(|why| format!("{host} resolves to {why}"))?;
        }
        Ok(addrs)
    }
}

/// The HTTP client's resolver: [`Policy::resolve`] on every connection.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Policy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = policy
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl GuardedResolver {
    pub fn shared(policy: Policy) -> Arc<Self> {
        Arc::new(Self(policy))
    }
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918,
/// unique local), shared (CGNAT), link-local (cloud metadata lives at 169.254.169.254),
/// unspecified, broadcast, multicast, documentation or benchmarking; IPv4 inside IPv6 is
/// judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Policy {
        Policy::default()
    }

    #[test]
    fn private_loopback_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as private");
        }
    }

    #[test]
    fn urls_naming_private_addresses_or_plain_http_are_refused() {
        for url in [
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]:8443/",
            "https://[::ffff:10.0.0.1]/",
        ] {
            let err = strict().check_url(url).unwrap_err();
            assert!(err.contains("not a public address"), "{url}: {err}");
        }
        assert!(
            strict()
                .check_url("http://crm.example/hook")
                .unwrap_err()
                .contains("https")
        );
        assert!(strict().check_url("ftp://crm.example/").is_err());
        assert!(strict().check_url("https://user:pw@crm.example/").is_err());
        assert!(strict().check_url("https://crm.example/hook").is_ok());
        let local = Policy {
            allow_http: true,
            allow_private: true,
        };
        assert!(local.check_url("http://127.0.0.1:9000/hook").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let err = strict().resolve("localhost", 443).await.unwrap_err();
        assert!(err.contains("not a public address"), "{err}");
        let local = Policy {
            allow_http: true,
            allow_private: true,
        };
        assert!(local.resolve("localhost", 443).await.is_ok());
    }
}
