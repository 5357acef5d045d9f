//! `GET|POST /v1/tokens`, `GET|DELETE /v1/tokens/{id}`: the lifecycle of created tokens.
//!
//! The bootstrap token may mint tokens for any websites, and grant the right to mint; a created
//! token may mint only if it was granted that right, only for its own websites, never beyond
//! its own expiry, and never the right to mint. A token sees (lists, revokes) the tokens whose
//! websites all lie within its own. Revoking is an event: once applied, the token is refused
//! everywhere, since every request looks its token up.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, SubsecRound, Utc};
use schemas::Payload;
use schemas::payloads::{TokenCreated, TokenRevoked};
use serde::{Deserialize, Serialize};

use super::answers::{Action, Body, Creation, Either, Listed, Page, Whole, acted};
use super::bad_request;
use crate::AppState;
use crate::actions;
use crate::auth::{self, Admin};
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::tokens::{self as store, TokenRow};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schemars(
        length(min = 1),
        inner(length(min = 1, max = 256), regex(pattern = r"\S"))
    )]
    websites: Vec<String>,
    #[schemars(length(max = 256))]
    name: Option<String>,
    /// When the token stops working (RFC 3339, in the future); a token minted by a token that
    /// expires expires no later than it, and at the same time when absent.
    expires_at: Option<DateTime<Utc>>,
    /// Whether the new token may mint tokens itself: only the bootstrap token grants it.
    #[serde(default)]
    may_mint: bool,
}

/// A token just created: the only answer that ever shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MintedToken {
    /// The token itself, shown once: only its digest is kept.
    pub token: String,
    /// Its digest: what `GET /v1/tokens/{id}` and `DELETE /v1/tokens/{id}` name.
    pub id: String,
    pub websites: Vec<String>,
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub may_mint: bool,
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Body(mut new): Body<NewToken>,
) -> Result<Creation<MintedToken>, ApiError> {
    // As Postgres keeps it, so that the answer shows what is stored.
    new.expires_at = new.expires_at.map(|at| at.trunc_subsecs(6));
    if !admin.may_mint {
        return Err(ApiError::Forbidden("this token may not create tokens"));
    }
    if new.may_mint && admin.actor != auth::BOOTSTRAP {
        return Err(ApiError::Forbidden(
            "only the bootstrap token grants the right to create tokens",
        ));
    }
    // A token can hand out no more than it sees itself, for no longer than it lives.
    if let Some(outside) = new.websites.iter().find(|w| !admin.scope.allows(w)) {
        return Err(ApiError::BadRequest(format!(
            "websites: {outside} is not a website this token sees"
        )));
    }
    let expires_at = match (new.expires_at, admin.expires_at) {
        (Some(at), _) if at <= Utc::now() => {
            return Err(ApiError::BadRequest(
                "expires_at: must be in the future".into(),
            ));
        }
        (Some(at), Some(limit)) if at > limit => {
            return Err(ApiError::BadRequest(format!(
                "expires_at: must not be after this token's own expiry, {}",
                limit.to_rfc3339()
            )));
        }
        (Some(at), _) => Some(at),
        (None, limit) => limit,
    };
    let token = auth::new_token();
    let payload = Payload::TokenCreated(TokenCreated {
        token_digest: auth::digest(&token),
        websites: new.websites.clone(),
        name: new.name.clone(),
        expires_at,
        may_mint: new.may_mint,
    });
    payload.validate().map_err(bad_request)?;
    let subject = format!("token:{}", auth::digest(&token));
    let website = new.websites.first().cloned().unwrap_or_default();
    let event = actions::event(&website, &subject, payload);
    let outcome = actions::submit(&state, &admin.actor, event).await?;
    // The token is shown once, here; only its digest is kept.
    Ok(acted(
        outcome,
        MintedToken {
            id: auth::digest(&token),
            token,
            websites: new.websites,
            name: new.name,
            expires_at,
            may_mint: new.may_mint,
        },
    ))
}

impl Listed for TokenRow {
    const KEY: &'static str = "tokens";
}

/// The tokens this token sees, revoked and expired ones included, newest first.
pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
) -> Result<Json<Page<TokenRow, Whole>>, ApiError> {
    let tokens = store::list(&state.pool, admin.scope.websites()).await?;
    Ok(Json(Page::new(tokens, Whole {}, as_of)))
}

/// One token; null in an action's answer while the projector has not applied it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OneToken {
    pub token: Option<TokenRow>,
}

pub async fn detail(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OneToken>, ApiError> {
    let token = store::find(&state.pool, admin.scope.websites(), &id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    Ok(Json(OneToken { token: Some(token) }))
}

/// Revokes a token this token sees (`token.revoked`); a token may always revoke itself.
pub async fn revoke(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Either<Action<OneToken>, Json<OneToken>>, ApiError> {
    let token = store::find(&state.pool, admin.scope.websites(), &id)
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    if !admin.may_mint && token.id != admin.token {
        return Err(ApiError::Forbidden(
            "this token may revoke only itself: it may not create tokens",
        ));
    }
    if token.revoked_at.is_some() {
        // Nothing to do: the token as it is, without an event.
        return Ok(Either::Right(Json(OneToken { token: Some(token) })));
    }
    let website = token.websites.first().cloned().unwrap_or_default();
    let payload = Payload::TokenRevoked(TokenRevoked {
        token_digest: token.id.clone(),
    });
    let event = actions::event(&website, &format!("token:{}", token.id), payload);
    let outcome = actions::submit(&state, &admin.actor, event).await?;
    let now = store::find(&state.pool, None, &id).await?;
    Ok(Either::Left(acted(outcome, OneToken { token: now })))
}
