//! API tokens: what a created token may do while it lives, the tokens a token may see, and
//! when each was last used.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

/// What a live created token (neither expired nor revoked) may do.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Grant {
    pub websites: Vec<String>,
    pub may_mint: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as `GET /v1/tokens` lists it: never the token, only its digest as its id.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, schemars::JsonSchema)]
pub struct TokenRow {
    /// The token's digest: what `DELETE /v1/tokens/{id}` names.
    pub id: String,
    pub name: Option<String>,
    pub websites: Vec<String>,
    /// Whether it may create tokens.
    pub may_mint: bool,
    pub created_at: DateTime<Utc>,
    /// The token that created it: `bootstrap`, or a token's id.
    pub created_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When query-api last accepted it (to within a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The grant of the live token with `digest`, if there is one.
pub async fn grant(pool: &PgPool, digest: &str) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT websites, may_mint, expires_at FROM api_tokens t
         WHERE token_digest = $1 AND (expires_at IS NULL OR expires_at > now())
           AND NOT EXISTS (SELECT 1 FROM token_revocations r WHERE r.token_digest = t.token_digest)",
    )
    .bind(digest)
    .fetch_optional(pool)
    .await
}

const SELECT: &str = "SELECT t.token_digest AS id, t.name, t.websites, t.may_mint, t.created_at,
        t.created_by, t.expires_at, r.revoked_at, u.last_used_at
     FROM api_tokens t
     LEFT JOIN token_revocations r USING (token_digest)
     LEFT JOIN colloquy.token_uses u USING (token_digest)";

/// The tokens whose websites all lie within `scope` (every token when `None`), newest first.
pub async fn list(pool: &PgPool, scope: Option<&[String]>) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::text[] IS NULL OR t.websites <@ $1)
         ORDER BY t.created_at DESC, t.token_digest"
    ))
    .bind(scope)
    .fetch_all(pool)
    .await
}

/// The token with digest `id`, if its websites all lie within `scope`.
pub async fn find(
    pool: &PgPool,
    scope: Option<&[String]>,
    id: &str,
) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE t.token_digest = $2 AND ($1::text[] IS NULL OR t.websites <@ $1)"
    ))
    .bind(scope)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Notes that the token with `digest` was used now.
pub async fn record_use(pool: &PgPool, digest: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO colloquy.token_uses (token_digest, last_used_at) VALUES ($1, now())
         ON CONFLICT (token_digest) DO UPDATE SET last_used_at = EXCLUDED.last_used_at",
    )
    .bind(digest)
    .execute(pool)
    .await?;
    Ok(())
}
