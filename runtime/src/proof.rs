//! Proof of origin for admin events. Anyone who can produce to the topic could otherwise write a
//! `token.created` or `website.created` and gain admin power; so query-api (and the operator's
//! tools) put an HMAC of each admin record in its [`PROOF_HEADER`], made with a key from
//! configuration, and the projector applies an admin record only if the proof checks out.
//!
//! `ADMIN_EVENT_KEYS` holds `id:secret` pairs, comma-separated: the first signs, every one is
//! accepted, so a key is rotated by putting the new one first everywhere, then (once no record
//! signed with the old one remains to be read, i.e. after the topic's retention, or never if
//! rebuilds must replay it) dropping the old one (docs: docs/security.md).

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use schemas::topics::PROOF_HEADER;
use sha2::Sha256;

use crate::config::{ConfigError, Source};

/// The development key, for a laptop: refused beyond loopback.
pub const DEV_KEY: &str = "dev:dev-admin-event-key-not-secret";

/// The shortest secret accepted beyond loopback: 128 bits in hex.
pub const MIN_SECRET_CHARS: usize = 32;

/// The keys admin events are signed with (the first) and checked against (all of them).
#[derive(Clone)]
pub struct AdminKeys {
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for AdminKeys {
    /// Key ids only: the secrets never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("AdminKeys").field("ids", &ids).finish()
    }
}

/// Why an admin record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unproven {
    #[error("an admin event without a proof of origin ({PROOF_HEADER} header)")]
    Missing,
    #[error("an admin event signed with unknown key {0:?}")]
    UnknownKey(String),
    #[error("an admin event whose proof of origin does not match it")]
    Mismatch,
}

impl AdminKeys {
    /// `ADMIN_EVENT_KEYS`; the development key when unset, only where `bound` (the address the
    /// service listens on) is loopback. Beyond it, a missing, development or short key is
    /// refused, as a weak admin token is.
    pub fn from_source(env: &impl Source, bound: IpAddr) -> Result<Self, ConfigError> {
        let value = env.string_or("ADMIN_EVENT_KEYS", DEV_KEY);
        let invalid = |message: String| ConfigError::Invalid {
            name: "ADMIN_EVENT_KEYS".into(),
            message,
        };
        let keys = Self::parse(&value).map_err(invalid)?;
        if !bound.is_loopback() {
            let short = keys.keys.iter().any(|(_, s)| s.len() < MIN_SECRET_CHARS);
            if value == DEV_KEY || short {
                return Err(invalid(format!(
                    "bound to {bound}, beyond loopback: set `id:secret` pairs, each secret at \
                     least {MIN_SECRET_CHARS} characters (e.g. `k1:$(openssl rand -hex 32)`)"
                )));
            }
        }
        Ok(keys)
    }

    /// `id:secret[,id:secret…]`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let keys = value
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (id, secret) = pair
                    .split_once(':')
                    .ok_or_else(|| "each key is `id:secret`".to_owned())?;
                if id.is_empty() || secret.is_empty() || id.contains(':') {
                    return Err("each key is `id:secret`, neither empty".to_owned());
                }
                Ok((id.to_owned(), secret.as_bytes().to_vec()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if keys.is_empty() {
            return Err("no key".into());
        }
        Ok(Self { keys })
    }

    /// The development key ([`DEV_KEY`]).
    pub fn dev() -> Self {
        Self::parse(DEV_KEY).expect("the development key parses")
    }

    fn mac(secret: &[u8], key: &[u8], value: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        // The record's key is length-prefixed, so no key and value can pass for another pair.
        mac.update(&(key.len() as u64).to_be_bytes());
        mac.update(key);
        mac.update(value);
        mac
    }

    /// The proof for a record with `key` and `value`, made with the first key.
    pub fn sign(&self, key: &[u8], value: &[u8]) -> String {
        let (id, secret) = &self.keys[0];
        let tag = Self::mac(secret, key, value).finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("{id}:{hex}")
    }

    /// Whether `proof` was made for `key` and `value` with one of the keys; compared in
    /// constant time.
    pub fn verify(&self, key: &[u8], value: &[u8], proof: Option<&str>) -> Result<(), Unproven> {
        let (id, hex) = proof
            .and_then(|p| p.split_once(':'))
            .ok_or(Unproven::Missing)?;
        let (_, secret) = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(|| Unproven::UnknownKey(id.to_owned()))?;
        let tag = decode_hex(hex).ok_or(Unproven::Mismatch)?;
        Self::mac(secret, key, value)
            .verify_slice(&tag)
            .map_err(|_| Unproven::Mismatch)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_proof_holds_for_its_record_only_and_under_any_listed_key() {
        let old = AdminKeys::parse("k1:first-secret").unwrap();
        let rotated = AdminKeys::parse("k2:second-secret,k1:first-secret").unwrap();
        let proof = old.sign(b"c1", b"{\"type\":\"token.created\"}");
        assert!(proof.starts_with("k1:"));
        assert_eq!(
            rotated.verify(b"c1", b"{\"type\":\"token.created\"}", Some(&proof)),
            Ok(())
        );
        assert_eq!(
            rotated.verify(b"c1", b"{\"type\":\"token.created\",\"x\":1}", Some(&proof)),
            Err(Unproven::Mismatch)
        );
        assert_eq!(
            rotated.verify(b"c2", b"{\"type\":\"token.created\"}", Some(&proof)),
            Err(Unproven::Mismatch),
            "the record's key is covered too"
        );
        assert_eq!(rotated.verify(b"c1", b"{}", None), Err(Unproven::Missing));
        let new = rotated.sign(b"c1", b"{}");
        assert!(new.starts_with("k2:"));
        assert_eq!(
            old.verify(b"c1", b"{}", Some(&new)),
            Err(Unproven::UnknownKey("k2".into()))
        );
        assert_eq!(
            old.verify(b"c1", b"{}", Some("k1:zz")),
            Err(Unproven::Mismatch)
        );
    }

    #[test]
    fn beyond_loopback_the_development_or_a_short_key_is_refused() {
        let public: IpAddr = "0.0.0.0".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let none: HashMap<&str, &str> = HashMap::new();
        assert!(AdminKeys::from_source(&none, loopback).is_ok());
        assert!(AdminKeys::from_source(&none, public).is_err());
        let short = HashMap::from([("ADMIN_EVENT_KEYS", "k1:short")]);
        assert!(AdminKeys::from_source(&short, public).is_err());
        let strong = HashMap::from([(
            "ADMIN_EVENT_KEYS",
            "k2:0123456789abcdef0123456789abcdef,k1:fedcba9876543210fedcba9876543210",
        )]);
        let keys = AdminKeys::from_source(&strong, public).unwrap();
        assert!(
            !format!("{keys:?}").contains("0123"),
            "secrets stay out of logs"
        );
        for bad in ["nocolon", "k1:", ":secret", ","] {
            assert!(AdminKeys::parse(bad).is_err(), "{bad}");
        }
    }
}
