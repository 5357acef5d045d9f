//! Data-subject requests, by e-mail address, phone number or customer id:
//! `GET /v1/subjects/export`, everything held about one person (GDPR art. 15), and
//! `POST /v1/subjects/erase`, an erasure request by address (art. 17).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, header};
use schemas::Payload;
use schemas::contact_keys::{customer_key, email_key, phone_key};
use schemas::payloads::{ContactErased, CustomerErased};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::answers::Body;
use super::params::Params;
use crate::AppState;
use crate::actions::{self, Outcome};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::subjects as store;
use crate::store::websites;

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

/// The person's contacts (by address) or conversations (by customer id) in the token's scope.
async fn resolve(
    state: &AppState,
    admin: &Admin,
    params: &SubjectParams,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
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
    Ok(match (&params.email, &params.phone, &params.customer_id) {
        (_, _, Some(customer)) => (
            Vec::new(),
            store::conversations_of_customer(&state.pool, scope.as_deref(), customer.trim())
                .await?,
        ),
        (email, phone, None) => {
            // A contact id is derived from the website and the address, so look the address
            // up on every website in scope.
            let keys: Vec<(String, String)> = websites::known(&state.pool, scope.as_deref())
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
    })
}

pub async fn export(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<SubjectParams>,
) -> Result<([(HeaderName, &'static str); 1], Json<SubjectExport>), ApiError> {
    let (contacts, conversations) = resolve(&state, &admin, &params).await?;
    let held = store::export(&state.pool, &contacts, &conversations).await?;
    let export = SubjectExport {
        subject: Subject {
            email: params.email,
            phone: params.phone,
            customer_id: params.customer_id,
        },
        held,
        as_of,
    };
    // Everything held about a person: no cache along the way keeps a copy.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(export)))
}

/// Who an export is about, as asked.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Subject {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub customer_id: Option<String>,
}

/// Everything held about one person.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SubjectExport {
    pub subject: Subject,
    #[serde(flatten)]
    pub held: store::Held,
    pub as_of: AsOf,
}

/// What `POST /v1/subjects/erase` takes: one identifier, optionally on one website.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The website's own id for the person: every conversation that names it is erased, now
    /// and when more arrives, and so is every contact those conversations lead to.
    pub customer_id: Option<String>,
    pub website_id: Option<String>,
}

/// Erases the person on the websites the token sees: by address, every contact the address
/// belongs to (`contact.erased`); by customer id, the customer (`customer.erased`) and the
/// contacts of their conversations. Each event is applied before the next (within
/// `ADMIN_WAIT_MS`).
pub async fn erase(
    admin: Admin,
    State(state): State<AppState>,
    Body(request): Body<ErasureRequest>,
) -> Result<Json<Erasure>, ApiError> {
    let params = SubjectParams {
        email: request.email,
        phone: request.phone,
        customer_id: request.customer_id,
        website_id: request.website_id,
    };
    let mut payloads: Vec<(String, String, Payload)> = Vec::new();
    match &params.customer_id {
        Some(customer) if params.email.is_none() && params.phone.is_none() => {
            let scope = admin.scope.narrow(params.website_id.as_deref())?;
            let keys: Vec<(String, String)> = websites::known(&state.pool, scope.as_deref())
                .await?
                .into_iter()
                .map(|w| {
                    let key = customer_key(&w, customer.trim());
                    (w, key)
                })
                .collect();
            let reach = store::customer_reach(&state.pool, &keys).await?;
            let mut customers: Vec<(String, String)> = reach
                .iter()
                .map(|(w, k, _)| (w.clone(), k.clone()))
                .collect();
            customers.dedup();
            for (website, key) in customers {
                payloads.push((
                    website.clone(),
                    format!("customer:{key}"),
                    Payload::CustomerErased(CustomerErased { customer_key: key }),
                ));
            }
            for (website, _, contact) in reach {
                if let Some(contact_id) = contact {
                    payloads.push((
                        website,
                        format!("contact:{contact_id}"),
                        Payload::ContactErased(ContactErased { contact_id }),
                    ));
                }
            }
            payloads.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        }
        _ => {
            let (contacts, _) = resolve(&state, &admin, &params).await?;
            for (website_id, contact_id) in contacts {
                payloads.push((
                    website_id,
                    format!("contact:{contact_id}"),
                    Payload::ContactErased(ContactErased { contact_id }),
                ));
            }
        }
    }
    let mut erased = Vec::new();
    for (website_id, subject, payload) in payloads {
        payload.validate().map_err(super::bad_request)?;
        let kind = payload.event_type().name();
        let outcome = actions::submit(
            &state,
            &admin.actor,
            actions::event(&website_id, &subject, payload),
        )
        .await?;
        erased.push(Erased {
            website_id,
            subject,
            event: kind,
            event_id: outcome.event_id(),
            status: match outcome {
                Outcome::Applied(_) => "applied",
                Outcome::Pending(_) => "accepted",
            },
        });
    }
    Ok(Json(Erasure { erased }))
}

/// `POST /v1/subjects/erase`: every erasure event produced, in order.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Erasure {
    pub erased: Vec<Erased>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Erased {
    pub website_id: String,
    /// `contact:<id>` or `customer:<key>`.
    pub subject: String,
    /// `contact.erased` or `customer.erased`.
    pub event: &'static str,
    pub event_id: Uuid,
    /// `applied`, or `accepted` when the projector has not applied it yet.
    pub status: &'static str,
}
