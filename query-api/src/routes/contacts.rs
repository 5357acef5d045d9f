//! Contacts: `GET /v1/contacts` (search, filters, a total), `GET /v1/contacts/{id}` with the
//! contact's conversation history and requests, and the admin actions: edit
//! (`PATCH`), merge (`POST /v1/contacts/merge`) and erase (`DELETE`).

use axum::Json;
use axum::extract::{Path, State};
use schemas::Payload;
use schemas::payloads::{ContactErased, ContactUpdated, ContactsMerged, LeadStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::answers::{Action, Body, Listed, Numbered, Page, Read, acted, read};
use super::bad_request;
use super::params::{Days, Params, check_tz, limit, page};
use crate::AppState;
use crate::actions;
use crate::auth::{Admin, Scope};
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::actions::ActionRow;
use crate::store::contacts::{
    self as store, ContactPopulation, ContactRow, Filter, HistoryRow, Sort,
};
use crate::store::days::{LocalDays, Zone};
use crate::store::requests::{self, RequestRow};

const DEFAULT_LIMIT: i64 = 50;
pub(crate) const MAX_LIMIT: i64 = 500;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub website_id: Option<String>,
    /// Name, e-mail or phone contains it.
    pub q: Option<String>,
    pub channel: Option<String>,
    /// `today`, `7d` or `30d` (each website's days); or `from`/`to` days.
    pub created: Option<String>,
    /// Only the contacts a figure of `GET /v1/stats/contacts` counts; `from` and `to` are
    /// then that figure's range (both required), not the days the contacts were first seen.
    #[schemars(extend("enum" = ["total", "new", "active", "repeat", "in_open_conversation",
        "awaiting_follow_up"]))]
    pub population: Option<String>,
    /// First seen on or after this day (`YYYY-MM-DD`), in the website's time zone (or `tz`).
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// An IANA time zone whose days `created`, `from` and `to` are, instead of each website's.
    pub tz: Option<String>,
    #[schemars(extend("enum" = ["new", "active", "follow_up", "archived"]))]
    pub lead_status: Option<String>,
    /// `hot`, `warm` or `cold`, as of now (see `lead_score` in the rows).
    #[schemars(extend("enum" = ["hot", "warm", "cold"]))]
    pub lead_score: Option<String>,
    pub include_erased: Option<bool>,
    /// Only contacts inactive for longer than the website's review period (12 months unless
    /// set with `PUT /v1/websites/{id}/privacy`).
    pub review_due: Option<bool>,
    /// `-last_activity_at` (default), `-first_seen_at`, `first_seen_at`, `name`, or
    /// `-lead_score` (hot first, then the latest activity).
    #[schemars(extend("enum" = ["-last_activity_at", "-first_seen_at", "first_seen_at",
        "-created_at", "created_at", "name", "-lead_score"]))]
    pub sort: Option<String>,
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page: Option<i64>,
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<i64>,
}

impl ListParams {
    pub fn filter(&self, scope: &Scope) -> Result<Filter, ApiError> {
        let population = match self.population.as_deref() {
            None => None,
            Some(name) => {
                let population = ContactPopulation::parse(name).ok_or_else(|| {
                    let names: Vec<&str> =
                        ContactPopulation::ALL.iter().map(|p| p.name()).collect();
                    ApiError::BadRequest(format!("population: one of {}", names.join(", ")))
                })?;
                let (Some(from), Some(to)) = (&self.from, &self.to) else {
                    return Err(ApiError::BadRequest(
                        "population: needs the figure's from and to".into(),
                    ));
                };
                if self.created.is_some() {
                    return Err(ApiError::BadRequest(
                        "created: not with a population, whose from/to are its range".into(),
                    ));
                }
                let days = Days::parse(Some(from), Some(to), 3_650)?;
                Some((population, (days.from, days.to)))
            }
        };
        let first_seen = match (self.created.as_deref(), &self.from, &self.to) {
            _ if population.is_some() => None,
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "created: use either created or from/to".into(),
                ));
            }
            (Some(window), None, None) => {
                let days = match window {
                    "today" => 1,
                    "7d" => 7,
                    "30d" => 30,
                    _ => {
                        return Err(ApiError::BadRequest(
                            "created: one of today, 7d, 30d".into(),
                        ));
                    }
                };
                Some(LocalDays::Last(days))
            }
            (None, None, None) => None,
            (None, from, to) => {
                let days = Days::parse(from.as_deref(), to.as_deref(), 3_650)?;
                Some(LocalDays::Between(days.from, days.to))
            }
        };
        if let Some(l) = &self.lead_status {
            parse_lead_status(l)?;
        }
        if let Some(s) = &self.lead_score
            && !["hot", "warm", "cold"].contains(&s.as_str())
        {
            return Err(ApiError::BadRequest(
                "lead_score: one of hot, warm, cold".into(),
            ));
        }
        Ok(Filter {
            websites: scope.narrow(self.website_id.as_deref())?,
            search: self.q.clone().filter(|q| !q.trim().is_empty()),
            channel: self.channel.clone(),
            first_seen,
            zone: Zone(self.tz.clone()),
            lead_status: self.lead_status.clone(),
            lead_score: self.lead_score.clone(),
            include_erased: self.include_erased.unwrap_or(false),
            review_due: self.review_due.unwrap_or(false),
            population,
        })
    }

    pub fn sort(&self) -> Result<Sort, ApiError> {
        match &self.sort {
            None => Ok(Sort::LastActivityDesc),
            Some(s) => Sort::parse(s).ok_or_else(|| {
                ApiError::BadRequest(
                    "sort: one of -last_activity_at, -first_seen_at, first_seen_at, name, -lead_score"
                        .into(),
                )
            }),
        }
    }
}

fn parse_lead_status(value: &str) -> Result<LeadStatus, ApiError> {
    serde_json::from_value(json!(value)).map_err(|_| {
        ApiError::BadRequest("lead_status: one of new, active, follow_up, archived".into())
    })
}

/// A page of contacts and the total matching, for the native and the legacy list.
pub async fn page_of(
    state: &AppState,
    scope: &Scope,
    params: &ListParams,
) -> Result<(Vec<ContactRow>, crate::store::Total, i64), ApiError> {
    check_tz(&state.pool, params.tz.as_deref()).await?;
    let filter = params.filter(scope)?;
    let sort = params.sort()?;
    let limit = limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let page = page(params.page)?;
    // The page and its total on two connections at once.
    let (rows, total) = tokio::try_join!(
        store::list(&state.pool, &filter, sort, limit, (page - 1) * limit),
        store::count(&state.pool, &filter),
    )?;
    Ok((rows, total, page))
}

impl Listed for ContactRow {
    const KEY: &'static str = "contacts";
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<ListParams>,
) -> Result<Json<Page<ContactRow, Numbered>>, ApiError> {
    let (rows, total, page) = page_of(&state, &admin.scope, &params).await?;
    let paging = Numbered {
        total: total.count,
        total_capped: total.capped,
        page,
    };
    Ok(Json(Page::new(rows, paging, as_of)))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneParams {
    pub website_id: Option<String>,
}

async fn find_one(
    state: &AppState,
    scope: &Scope,
    website_id: Option<&str>,
    id: &str,
) -> Result<ContactRow, ApiError> {
    let websites = scope.narrow(website_id)?;
    store::find(&state.pool, websites.as_deref(), id)
        .await?
        .ok_or(ApiError::NotFound("contact"))
}

/// A contact with its conversations, its requests and the admin actions taken on it; after an
/// erasure or a merge into another, the contact is null and the lists empty.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct ContactHistory {
    pub contact: Option<ContactRow>,
    pub conversations: Vec<HistoryRow>,
    pub requests: Vec<RequestRow>,
    /// The admin actions taken on it and the token that took each.
    pub actions: Vec<ActionRow>,
}

async fn with_history(state: &AppState, contact: ContactRow) -> Result<ContactHistory, ApiError> {
    let (website, id) = (&contact.website_id, &contact.contact_id);
    let subject = format!("contact:{id}");
    let (conversations, requests, actions) = tokio::try_join!(
        store::history(&state.pool, website, id),
        requests::of_contact(&state.pool, website, id),
        crate::store::actions::on(&state.pool, website, &subject),
    )?;
    Ok(ContactHistory {
        contact: Some(contact),
        conversations,
        requests,
        actions,
    })
}

pub async fn detail(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
) -> Result<Json<Read<ContactHistory>>, ApiError> {
    let contact = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    read(with_history(&state, contact).await?, as_of)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    #[schemars(extend("enum" = ["new", "active", "follow_up", "archived"]))]
    lead_status: Option<String>,
}

/// Produces an action about `contact` and answers with the contact as it is afterwards.
async fn act(
    state: &AppState,
    admin: &Admin,
    contact: &ContactRow,
    payload: Payload,
) -> Result<Action<ContactHistory>, ApiError> {
    payload.validate().map_err(bad_request)?;
    let subject = format!("contact:{}", contact.contact_id);
    let event = actions::event(&contact.website_id, &subject, payload);
    let outcome = actions::submit(state, &admin.actor, event).await?;
    let now = store::find(
        &state.pool,
        Some(std::slice::from_ref(&contact.website_id)),
        &contact.contact_id,
    )
    .await?;
    let body = match now {
        Some(c) => with_history(state, c).await?,
        None => ContactHistory::default(),
    };
    Ok(acted(outcome, body))
}

pub async fn update(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    Body(edit): Body<Edit>,
) -> Result<Action<ContactHistory>, ApiError> {
    let lead_status = edit
        .lead_status
        .as_deref()
        .map(parse_lead_status)
        .transpose()?;
    if edit.name.is_none()
        && edit.email.is_none()
        && edit.phone.is_none()
        && edit.notes.is_none()
        && lead_status.is_none()
    {
        return Err(ApiError::BadRequest(
            "body: give at least one of name, email, phone, notes, lead_status".into(),
        ));
    }
    let contact = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let payload = Payload::ContactUpdated(ContactUpdated {
        contact_id: contact.contact_id.clone(),
        name: edit.name,
        email: edit.email,
        phone: edit.phone,
        notes: edit.notes,
        lead_status,
    });
    act(&state, &admin, &contact, payload).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    surviving_contact_id: String,
    merged_contact_ids: Vec<String>,
    website_id: Option<String>,
}

pub async fn merge(
    admin: Admin,
    State(state): State<AppState>,
    Body(merge): Body<Merge>,
) -> Result<Action<ContactHistory>, ApiError> {
    let survivor = find_one(
        &state,
        &admin.scope,
        merge.website_id.as_deref(),
        &merge.surviving_contact_id,
    )
    .await?;
    let mut merged = Vec::new();
    for id in &merge.merged_contact_ids {
        let contact = find_one(&state, &admin.scope, Some(&survivor.website_id), id).await?;
        if contact.contact_id == survivor.contact_id {
            return Err(ApiError::BadRequest(format!(
                "merged_contact_ids: {id} is already the surviving contact"
            )));
        }
        merged.push(contact.contact_id);
    }
    let payload = Payload::ContactsMerged(ContactsMerged {
        surviving_contact_id: survivor.contact_id.clone(),
        merged_contact_ids: merged,
    });
    act(&state, &admin, &survivor, payload).await
}

pub async fn erase(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
) -> Result<Action<ContactHistory>, ApiError> {
    let contact = find_one(&state, &admin.scope, params.website_id.as_deref(), &id).await?;
    let payload = Payload::ContactErased(ContactErased {
        contact_id: contact.contact_id.clone(),
    });
    act(&state, &admin, &contact, payload).await
}
