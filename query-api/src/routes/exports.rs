//! `GET /v1/exports/{conversations|messages|contacts|events}?format=csv|json|ndjson&…`: the
//! same filters as the lists, streamed (see [`crate::export`]).

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::params::{Days, check_tz};
use super::{contacts, conversations};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::export::{self, Format};
use crate::store::days::{LocalDays, Zone};
use crate::store::exports as store;

/// Splits `format` off the query string and parses the rest as the list's own parameters, so
/// an export accepts exactly the filters its list does.
fn parse<T: DeserializeOwned>(uri: &Uri) -> Result<(Format, T), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let mut format = None;
    let mut rest = Vec::new();
    for (k, v) in pairs {
        if k == "format" {
            format = Some(v);
        } else {
            rest.push((k, v));
        }
    }
    let format = Format::parse(format.as_deref())?;
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

pub async fn export(
    admin: Admin,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (format, export) = match kind.as_str() {
        "conversations" => {
            let (format, params): (_, conversations::ListParams) = parse(&uri)?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            (format, store::conversations(&params.filter(&admin.scope)?))
        }
        "messages" => {
            let (format, params): (_, conversations::ListParams) = parse(&uri)?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            (format, store::messages(&params.filter(&admin.scope)?))
        }
        "contacts" => {
            let (format, params): (_, contacts::ListParams) = parse(&uri)?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            (format, store::contacts(&params.filter(&admin.scope)?))
        }
        "events" => {
            let (format, params): (_, EventParams) = parse(&uri)?;
            let websites = admin.scope.narrow(params.website_id.as_deref())?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            let days = Days::parse(params.from.as_deref(), params.to.as_deref(), 3_650)?;
            let events = store::Events {
                websites,
                days: LocalDays::Between(days.from, days.to),
                zone: Zone(params.tz),
                event_type: params.event_type,
            };
            (format, store::events(events))
        }
        _ => return Err(ApiError::NotFound("export")),
    };
    export::respond(&state, &admin, format, &kind, export).await
}
