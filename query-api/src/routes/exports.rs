//! `GET /v1/exports/{conversations|messages|contacts|events}?format=csv|json|ndjson&…`: the
//! same filters as the lists, streamed (see [`crate::export`]). Each kind is a route of its
//! own, so its document lists the filters it takes.

use axum::extract::{FromRequestParts, State};
use axum::http::Uri;
use axum::http::request::Parts;
use runtime::documented::{Described, Input};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::params::{Days, check_tz};
use super::{contacts, conversations, requests};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::export::{self, Exported, Format};
use crate::store::days::{LocalDays, Zone};
use crate::store::exports as store;

/// Splits `format` (and the CSV's `bom` and `separator`) off the query string and parses the
/// rest as the list's own parameters, so an export accepts exactly the filters its list does.
fn parse<T: DeserializeOwned>(uri: &Uri) -> Result<(Format, T), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let (mut format, mut bom, mut separator) = (None, None, None);
    let mut rest = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "format" => format = Some(v),
            "bom" => bom = Some(v),
            "separator" => separator = Some(v),
            _ => rest.push((k, v)),
        }
    }
    let format = Format::parse(format.as_deref(), bom.as_deref(), separator.as_deref())?;
    let rest = serde_urlencoded::to_string(&rest)
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let params = serde_urlencoded::from_str(&rest)
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    Ok((format, params))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    website_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// First day (`YYYY-MM-DD`) in the website's time zone (or `tz`).
    #[schemars(with = "Option<chrono::NaiveDate>")]
    from: Option<String>,
    #[schemars(with = "Option<chrono::NaiveDate>")]
    to: Option<String>,
    /// An IANA time zone whose days `from` and `to` are, instead of each website's own.
    tz: Option<String>,
}

/// A list's own parameters, with the `format` of the export.
pub struct Exporting<T> {
    pub format: Format,
    pub params: T,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Exporting<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (format, params) = parse(&parts.uri)?;
        Ok(Self { format, params })
    }
}

impl<T: JsonSchema> Input for Exporting<T> {
    fn describe(op: &mut Described, g: &mut SchemaGenerator) {
        let mut query = g.root_schema_for::<T>();
        if let Some(properties) = query
            .ensure_object()
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            for (name, schema) in export_parameters() {
                properties.insert(name.into(), schema);
            }
        }
        op.query = Some(query);
    }
}

/// The parameters every export takes beside its list's filters.
pub fn export_parameters() -> [(&'static str, serde_json::Value); 3] {
    [
        (
            "format",
            json!({
                "description": "`csv` (the default), `json`, `ndjson` or `xlsx` (an Excel workbook: typed cells, times in the website's wall-clock time, at most 1,048,575 rows)",
                "type": "string",
                "enum": ["csv", "json", "ndjson", "xlsx"],
            }),
        ),
        (
            "bom",
            json!({
                "description": "CSV only: `true` starts the file with a UTF-8 byte-order mark, which Excel needs to read UTF-8",
                "type": "string",
                "enum": ["true", "false"],
            }),
        ),
        (
            "separator",
            json!({
                "description": "CSV only: `,` (the default) or `;`, for spreadsheets whose locale writes decimals with a comma",
                "type": "string",
                "enum": [",", ";"],
            }),
        ),
    ]
}

pub async fn conversations(
    admin: Admin,
    State(state): State<AppState>,
    Exporting { format, params }: Exporting<conversations::ListParams>,
) -> Result<Exported, ApiError> {
    check_tz(&state.pool, params.tz.as_deref()).await?;
    let export = store::conversations(&params.filter(&admin.scope)?);
    export::respond(&state, &admin, format, "conversations", export).await
}

/// The messages of the conversations the filters keep.
pub async fn messages(
    admin: Admin,
    State(state): State<AppState>,
    Exporting { format, params }: Exporting<conversations::ListParams>,
) -> Result<Exported, ApiError> {
    check_tz(&state.pool, params.tz.as_deref()).await?;
    let export = store::messages(&params.filter(&admin.scope)?);
    export::respond(&state, &admin, format, "messages", export).await
}

pub async fn contacts(
    admin: Admin,
    State(state): State<AppState>,
    Exporting { format, params }: Exporting<contacts::ListParams>,
) -> Result<Exported, ApiError> {
    check_tz(&state.pool, params.tz.as_deref()).await?;
    let export = store::contacts(&params.filter(&admin.scope)?);
    export::respond(&state, &admin, format, "contacts", export).await
}

pub async fn requests(
    admin: Admin,
    State(state): State<AppState>,
    Exporting { format, params }: Exporting<requests::WhichRequests>,
) -> Result<Exported, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    if let Some(s) = &params.status {
        requests::status(s)?;
    }
    let export = store::requests(websites.as_deref(), params.status.as_deref());
    export::respond(&state, &admin, format, "contact-requests", export).await
}

pub async fn events(
    admin: Admin,
    State(state): State<AppState>,
    Exporting { format, params }: Exporting<EventParams>,
) -> Result<Exported, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    check_tz(&state.pool, params.tz.as_deref()).await?;
    let days = Days::parse(params.from.as_deref(), params.to.as_deref(), 3_650)?;
    let events = store::Events {
        websites,
        days: LocalDays::Between(days.from, days.to),
        zone: Zone(params.tz),
        event_type: params.event_type,
    };
    export::respond(&state, &admin, format, "events", store::events(events)).await
}
