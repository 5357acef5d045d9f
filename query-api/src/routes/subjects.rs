//! `GET /v1/subjects/export`: everything held about one person, for data-subject access
//! requests (GDPR art. 15), found by e-mail address, phone number or customer id.

use axum::Json;
use axum::extract::State;
use schemas::contact_keys::{email_key, phone_key};
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::Params;
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::subjects as store;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectParams {
    /// Matched as the projector matches submissions: trimmed, case-insensitive.
    pub email: Option<String>,
    /// Matched by its digits (and a leading `+` or `00`).
    pub phone: Option<String>,
    /// The id the website's own systems know the visitor by.
    pub customer_id: Option<String>,
    /// Only this website (else every website the token sees).
    pub website_id: Option<String>,
}

pub async fn export(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<SubjectParams>,
) -> Result<Json<Value>, ApiError> {
    let given = [&params.email, &params.phone, &params.customer_id]
        .iter()
        .filter(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
        .count();
    if given != 1 {
        return Err(ApiError::BadRequest(
            "give exactly one of email, phone, customer_id".into(),
        ));
    }
    let scope = admin.scope.narrow(params.website_id.as_deref())?;
    let (contacts, conversations) = match (&params.email, &params.phone, &params.customer_id) {
        (_, _, Some(customer)) => (
            Vec::new(),
            store::conversations_of_customer(&state.pool, scope.as_deref(), customer.trim())
                .await?,
        ),
        (email, phone, None) => {
            // A contact id is derived from the website and the address, so look the address
            // up on every website in scope.
            let keys: Vec<(String, String)> =
                store::websites_with_contacts(&state.pool, scope.as_deref())
                    .await?
                    .into_iter()
                    .map(|w| {
                        let key = match (email, phone) {
                            (Some(e), _) => email_key(&w, e),
                            (None, Some(p)) => phone_key(&w, p),
                            (None, None) => unreachable!("one of them was given"),
                        };
                        (w, key)
                    })
                    .collect();
            (
                store::contacts_of_keys(&state.pool, &keys).await?,
                Vec::new(),
            )
        }
    };
    let mut held = store::export(&state.pool, &contacts, &conversations).await?;
    held["subject"] = json!({
        "email": params.email,
        "phone": params.phone,
        "customer_id": params.customer_id,
    });
    held["as_of"] = json!(as_of);
    Ok(Json(held))
}
