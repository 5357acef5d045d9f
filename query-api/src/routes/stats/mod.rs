//! `GET /v1/stats`, `/v1/stats/funnel` and `/v1/stats/breakdown`: the figures of the
//! conversations started in a range of the website's days, each defined once
//! ([`crate::store::populations`]) and each count opening as the conversations it counts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use serde::Deserialize;
use sqlx::PgPool;

use super::params::{Days, Params, checked_zone};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::days::Zone;
use crate::store::populations::Population;
use crate::store::service::{self, Service};
use crate::store::stats::{self as store, Counts, Range, Step};
use crate::store::websites as website_store;

mod answers;
pub mod contacts;
pub mod quality;
pub use answers::*;

/// Longest range an hourly series may cover.
const MAX_HOURLY_DAYS: i64 = 31;
/// Most pages the funnel lists.
const MAX_PAGES: i64 = 500;

/// Declares the parameters of a statistics route: the websites and days every one takes
/// (`website_id`, `from`, `to`, `tz`, written once here), then its own, and makes it
/// [`Ranged`]. (`#[serde(flatten)]` would share them as a struct, but cannot be combined with
/// `deny_unknown_fields`, which turns a misspelt parameter into a 400.)
macro_rules! ranged_params {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub website_id: Option<String>,
            /// First day, `YYYY-MM-DD`, in the website's time zone (or `tz`); 7 days ending `to`
            /// when absent.
            #[schemars(with = "Option<chrono::NaiveDate>")]
            pub from: Option<String>,
            /// Last day, inclusive; today in that zone when absent.
            #[schemars(with = "Option<chrono::NaiveDate>")]
            pub to: Option<String>,
            /// An IANA time zone (such as `America/Los_Angeles`) whose days to count in, instead
            /// of each website's own (`PUT /v1/websites/{id}/time_zone`, UTC until set).
            pub tz: Option<String>,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::routes::stats::Ranged for $name {
            fn range(&self) -> [Option<&str>; 4] {
                [
                    self.website_id.as_deref(),
                    self.from.as_deref(),
                    self.to.as_deref(),
                    self.tz.as_deref(),
                ]
            }
        }
    };
}
pub(crate) use ranged_params;

ranged_params! {
    /// Which websites and days `GET /v1/stats` covers, and how its series is cut.
    StatsParams {
        /// `day` (default) or `hour`: local days or local wall-clock hours.
        interval: Option<String>,
    }
}

ranged_params! {
    /// [`StatsParams`] with a page filter, for the funnel.
    FunnelParams {
        /// Only conversations whose widget loaded on this page (`""`: never loaded).
        page_url: Option<String>,
        /// `hour` (default, ≤ 31 days) or `day` buckets for the series.
        interval: Option<String>,
    }
}

ranged_params! {
    /// [`StatsParams`] without a series.
    BreakdownParams {}
}

/// What every statistics route resolves its parameters to.
struct Scope {
    websites: Option<Vec<String>>,
    days: Days,
    zone: Zone,
    /// The zone named in answers: the request's, else the one website's.
    time_zone: Option<String>,
}

/// The websites and days every statistics route's parameters name.
pub(crate) trait Ranged {
    /// `(website_id, from, to, tz)`.
    fn range(&self) -> [Option<&str>; 4];
}

impl Scope {
    async fn resolve(admin: &Admin, pool: &PgPool, params: &impl Ranged) -> Result<Self, ApiError> {
        let [website_id, from, to, tz] = params.range();
        let websites = admin.scope.narrow(website_id)?;
        let zone = match tz {
            Some(tz) => Some(checked_zone(pool, "tz", tz).await?),
            None => None,
        };
        let time_zone = match (&zone, website_id) {
            (Some(z), _) => Some(z.clone()),
            (None, Some(w)) => Some(website_store::time_zone(pool, w).await?),
            (None, None) => None,
        };
        let today = website_store::today(pool, time_zone.as_deref().unwrap_or("UTC")).await?;
        let days = Days::parse_on(from, to, 7, today)?;
        Ok(Self {
            websites,
            days,
            zone: Zone(zone),
            time_zone,
        })
    }

    /// The figures of `days`, with the list each count opens as.
    fn period(&self, days: Days, counts: &Counts, service: &Service) -> Period {
        let rated = self.open(Population::Rated, days);
        Period {
            from: days.from,
            to: days.to,
            figures: Figures::new(counts, service),
            open: FIGURE_POPULATIONS
                .iter()
                .map(|(name, p)| ((*name).to_owned(), self.open(*p, days)))
                .chain((1..=5).map(|r| {
                    (
                        format!("rating_distribution.{r}"),
                        format!("{rated}&rating={r}"),
                    )
                }))
                .collect(),
        }
    }

    fn range(&self, days: Days) -> Range<'_> {
        Range {
            websites: self.websites.as_deref(),
            from: days.from,
            to: days.to,
            zone: &self.zone,
            page_url: None,
        }
    }

    /// `GET /v1/conversations` listing `population` of `days`.
    fn open(&self, population: Population, days: Days) -> String {
        let mut query = vec![("population", population.name().to_owned())];
        query.extend(self.range_query(days));
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        format!("/v1/conversations?{query}")
    }

    /// The query parameters naming `days` and the scope's website and zone, for a list.
    fn range_query(&self, days: Days) -> Vec<(&'static str, String)> {
        let mut query = vec![("from", days.from.to_string()), ("to", days.to.to_string())];
        if let [one] = self.websites.as_deref().unwrap_or_default() {
            query.push(("website_id", one.clone()));
        }
        if let Some(tz) = &self.zone.0 {
            query.push(("tz", tz.clone()));
        }
        query
    }
}

/// The funnel's stages, in order.
const FUNNEL: [Population; 7] = [
    Population::Started,
    Population::Loaded,
    Population::Engaged,
    Population::LoadedEngaged,
    Population::EngagedWithoutLoad,
    Population::CtaClicked,
    Population::ContactSubmitted,
];

async fn period(pool: &PgPool, scope: &Scope, days: Days) -> Result<Period, ApiError> {
    let range = scope.range(days);
    let (counts, service) =
        tokio::try_join!(store::counts(pool, &range), service::total(pool, &range))?;
    Ok(scope.period(days, &counts, &service))
}

/// A range's figures for `websites` in each website's own days: the weekly report and the
/// legacy summary read them.
pub async fn period_of(
    pool: &PgPool,
    websites: Option<&[String]>,
    days: Days,
) -> Result<Period, ApiError> {
    let scope = Scope {
        websites: websites.map(<[String]>::to_vec),
        days,
        zone: Zone::default(),
        time_zone: None,
    };
    period(pool, &scope, days).await
}

/// Every local day (or hour) of `days`, with the figures of those that had any (`rows` and
/// `service`, by bucket).
fn filled<T>(
    rows: Vec<store::BucketRow>,
    service: Vec<(String, Service)>,
    days: Days,
    step: Step,
    figures: impl Fn(&Counts, &Service) -> T,
) -> Vec<Bucket<T>> {
    let mut rows: BTreeMap<String, Counts> =
        rows.into_iter().map(|r| (r.bucket, r.counts)).collect();
    let mut service: BTreeMap<String, Service> = service.into_iter().collect();
    filled_keys(days, step)
        .into_iter()
        .map(|key| {
            let counts = rows.remove(&key).unwrap_or_default();
            let service = service.remove(&key).unwrap_or_default();
            Bucket::new(step, key, figures(&counts, &service))
        })
        .collect()
}

fn hourly_allowed(days: Days) -> Result<(), ApiError> {
    if days.len() > MAX_HOURLY_DAYS {
        Err(ApiError::BadRequest(format!(
            "interval: hourly series cover at most {MAX_HOURLY_DAYS} days"
        )))
    } else {
        Ok(())
    }
}

pub async fn stats(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<StatsParams>,
) -> Result<Json<Statistics>, ApiError> {
    let scope = Scope::resolve(&admin, &state.pool, &params).await?;
    let days = scope.days;
    let step = match params.interval.as_deref() {
        None | Some("day") => Step::Day,
        Some("hour") => {
            hourly_allowed(days)?;
            Step::Hour
        }
        Some(_) => return Err(ApiError::BadRequest("interval: day or hour".into())),
    };
    let range = scope.range(days);
    // The range's counts are its buckets' sums: one read gives both. Medians are not: the
    // service figures of the buckets and of the range come from one grouping.
    let ((series, current), (service_series, service), previous) = tokio::try_join!(
        async { Ok(store::series(&state.pool, &range, step).await?) },
        async { Ok(service::series(&state.pool, &range, step).await?) },
        period(&state.pool, &scope, days.previous()),
    )?;
    let current = scope.period(days, &current, &service);
    Ok(Json(Statistics {
        change: change(&current.figures, &previous.figures),
        current,
        previous,
        time_zone: scope.time_zone,
        interval: step.key(),
        series: filled(series, service_series, days, step, Figures::new),
        as_of,
    }))
}

/// `GET /v1/stats/funnel`: of the conversations started in the range, those whose widget
/// loaded, that engaged, that clicked a CTA and that submitted contact details, with the share
/// each step keeps, per page the widget loaded on, and per local hour (or day).
pub async fn funnel(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<FunnelParams>,
) -> Result<Json<Funnel>, ApiError> {
    let scope = Scope::resolve(&admin, &state.pool, &params).await?;
    let days = scope.days;
    let step = match params.interval.as_deref() {
        None | Some("hour") if days.len() <= MAX_HOURLY_DAYS => Step::Hour,
        None | Some("day") => Step::Day,
        Some("hour") => {
            hourly_allowed(days)?;
            Step::Hour
        }
        Some(_) => return Err(ApiError::BadRequest("interval: hour or day".into())),
    };
    let range = Range {
        page_url: params.page_url.as_deref(),
        ..scope.range(days)
    };
    let ((series, total), by_page) = tokio::try_join!(
        store::series(&state.pool, &range, step),
        store::by_page(&state.pool, &range, MAX_PAGES),
    )?;
    let page = params
        .page_url
        .as_ref()
        .map(|page| serde_urlencoded::to_string([("page_url", page)]).unwrap_or_default());
    // A stage is named as the population it is, and opens as it.
    let open: BTreeMap<&str, String> = FUNNEL
        .iter()
        .map(|p| {
            let path = scope.open(*p, days);
            let path = match &page {
                Some(page) => format!("{path}&{page}"),
                None => path,
            };
            (p.name(), path)
        })
        .collect();
    Ok(Json(Funnel {
        from: days.from,
        to: days.to,
        time_zone: scope.time_zone,
        stages: Stages::from(&total),
        rates: FunnelRates {
            engaged_of_loaded: ratio(
                total.loaded_engaged_conversations,
                total.loaded_conversations,
            ),
            cta_clicked_of_engaged: ratio(total.cta_conversations, total.engaged_conversations),
            contact_submitted_of_engaged: ratio(
                total.contact_conversations,
                total.engaged_conversations,
            ),
        },
        open,
        by_page: by_page
            .iter()
            .map(|p| PageStages {
                page_url: p.page_url.clone(),
                stages: Stages::from(&p.counts),
            })
            .collect(),
        interval: step.key(),
        series: filled(series, Vec::new(), days, step, |c, _| Stages::from(c)),
        as_of,
    }))
}

/// The bucket labels of every local day (or hour) of `days`.
fn filled_keys(days: Days, step: Step) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = days.from;
    while day <= days.to {
        match step {
            Step::Day => out.push(day.to_string()),
            Step::Hour => out.extend((0..24).map(|h| format!("{day}T{h:02}:00"))),
        }
        day += Duration::days(1);
    }
    out
}

/// `GET /v1/stats/breakdown`: the engaged conversations started in a range (and their
/// messages) by channel, device, country and language; each row opens as its conversations.
pub async fn breakdown(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<BreakdownParams>,
) -> Result<Json<Breakdown>, ApiError> {
    let scope = Scope::resolve(&admin, &state.pool, &params).await?;
    let days = scope.days;
    let [by_channel, by_device, by_country, by_language] =
        store::breakdown(&state.pool, &scope.range(days)).await?;
    let engaged = scope.open(Population::Engaged, days);
    let rows = |rows: Vec<store::ShareRow>, dimension: &str| -> Vec<Share> {
        rows.into_iter()
            .map(|share| {
                let open = format!(
                    "{engaged}&{}",
                    serde_urlencoded::to_string([(dimension, &share.key)]).unwrap_or_default()
                );
                Share {
                    service: ServiceFigures::from(&share.service),
                    share,
                    open,
                }
            })
            .collect()
    };
    Ok(Json(Breakdown {
        from: days.from,
        to: days.to,
        time_zone: scope.time_zone,
        by_channel: rows(by_channel, "channel"),
        by_device: rows(by_device, "device"),
        by_country: rows(by_country, "country"),
        by_language: rows(by_language, "language"),
        as_of,
    }))
}
