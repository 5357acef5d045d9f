//! Query-string handling shared by the routes: every malformed parameter is a 400 that names
//! it, never a 500.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// `Query<T>` whose rejection is our 400 (unknown parameters included, with
/// `#[serde(deny_unknown_fields)]` on `T`).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Params)
            .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))
    }
}

/// A page size: `default` when absent, 1..=`max` otherwise.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = value.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {max}"
        )))
    }
}

/// A 1-based page number.
pub fn page(value: Option<i64>) -> Result<i64, ApiError> {
    match value {
        None => Ok(1),
        Some(p) if (1..=1_000_000).contains(&p) => Ok(p),
        Some(_) => Err(ApiError::BadRequest("page: must be 1 or more".into())),
    }
}

/// A date range over whole days, `from` and `to` inclusive; which instants they cover
/// depends on the time zone they are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Longest range a request may ask for.
const MAX_DAYS: i64 = 3_660;

impl Days {
    /// From `YYYY-MM-DD` strings; `default_days` ending today when both are absent.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        default_days: i64,
    ) -> Result<Self, ApiError> {
        Self::parse_on(from, to, default_days, Utc::now().date_naive())
    }

    /// [`Days::parse`] where it is `today` (in the time zone the days are counted in).
    pub fn parse_on(
        from: Option<&str>,
        to: Option<&str>,
        default_days: i64,
        today: NaiveDate,
    ) -> Result<Self, ApiError> {
        let to = match to {
            Some(t) => date("to", t)?,
            None => today,
        };
        let from = match from {
            Some(f) => date("from", f)?,
            None => to - Duration::days(default_days - 1),
        };
        if from > to {
            return Err(ApiError::BadRequest("from: must not be after to".into()));
        }
        let days = Self { from, to };
        if days.len() > MAX_DAYS {
            return Err(ApiError::BadRequest(format!(
                "the range may span at most {MAX_DAYS} days"
            )));
        }
        Ok(days)
    }

    pub fn len(self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The range of equal length just before this one.
    pub fn previous(self) -> Self {
        let n = self.len();
        Self {
            from: self.from - Duration::days(n),
            to: self.from - Duration::days(1),
        }
    }

    /// `[start, end)` as instants, counting UTC days.
    pub fn instants(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.from.and_time(NaiveTime::MIN).and_utc();
        let end = (self.to + Duration::days(1))
            .and_time(NaiveTime::MIN)
            .and_utc();
        (start, end)
    }
}

/// `zone` (the value of `field`) when Postgres knows it as a time zone: a name it does not
/// know would fail the query that uses it.
pub async fn checked_zone(
    pool: &sqlx::PgPool,
    field: &str,
    zone: &str,
) -> Result<String, ApiError> {
    if crate::store::websites::is_time_zone(pool, zone).await? {
        Ok(zone.to_owned())
    } else {
        Err(ApiError::BadRequest(format!(
            "{field}: {zone:?} is not a time zone name Postgres knows (such as America/Los_Angeles)"
        )))
    }
}

/// Checks an optional `tz` parameter with [`checked_zone`].
pub async fn check_tz(pool: &sqlx::PgPool, tz: Option<&str>) -> Result<(), ApiError> {
    if let Some(tz) = tz {
        checked_zone(pool, "tz", tz).await?;
    }
    Ok(())
}

pub fn date(name: &str, value: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::BadRequest(format!("{name}: expected a date as YYYY-MM-DD")))
}

/// An opaque keyset cursor: the sort key and id of the last row of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The priority of the page's last row, when the list is ordered by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<i16>,
    pub at: DateTime<Utc>,
    pub website_id: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(value: &str) -> Result<Self, ApiError> {
        URL_SAFE_NO_PAD
            .decode(value)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| ApiError::BadRequest("cursor: not a cursor this API returned".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip_and_garbage_is_rejected() {
        let c = Cursor {
            rank: None,
            at: Utc::now(),
            website_id: "w".into(),
            id: "c1".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("%%%").is_err());
        assert!(Cursor::decode("e30").is_err());
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_the_day_before() {
        let days = Days::parse(Some("2026-11-10"), Some("2026-11-16"), 7).unwrap();
        assert_eq!(days.len(), 7);
        let prev = days.previous();
        assert_eq!(prev.to, date("to", "2026-11-09").unwrap());
        assert_eq!(prev.len(), 7);
    }

    #[test]
    fn bad_ranges_are_400() {
        assert!(Days::parse(Some("2026-11-10"), Some("2026-11-01"), 7).is_err());
        assert!(Days::parse(Some("yesterday"), None, 7).is_err());
        assert!(Days::parse(Some("2000-01-01"), Some("2026-01-01"), 7).is_err());
        assert!(limit(Some(0), 50, 500).is_err());
        assert!(page(Some(0)).is_err());
    }
}
