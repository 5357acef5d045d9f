//! Admin authentication and tenancy: `Authorization: Bearer <token>` on every admin route.
//!
//! The bootstrap token from configuration sees every website. Tokens created through
//! `POST /v1/tokens` see only the websites they were created for; they are known by a digest
//! (the `api_tokens` read model, projected from `token.created`), never stored in clear.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

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

/// Proof that the request carried a valid admin token, and what it may see.
#[derive(Debug)]
pub struct Admin {
    pub scope: Scope,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        if same_token(token, &state.admin_token) {
            return Ok(Admin { scope: Scope::All });
        }
        if !token.starts_with("cq_") {
            return Err(ApiError::Unauthorized);
        }
        // The digest is looked up by equality; it reveals nothing about the token it came from.
        let websites: Option<Vec<String>> =
            sqlx::query_scalar("SELECT websites FROM api_tokens WHERE token_digest = $1")
                .bind(digest(token))
                .fetch_optional(&state.pool)
                .await?;
        websites
            .map(|w| Admin {
                scope: Scope::Websites(w),
            })
            .ok_or(ApiError::Unauthorized)
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
