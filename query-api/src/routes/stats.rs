//! `GET /v1/stats`, `/v1/stats/funnel` and `/v1/stats/breakdown`: the figures of the
//! conversations started in a range of the website's days, each defined once
//! ([`crate::store::populations`]) and each count opening as the conversations it counts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use super::params::{Days, Params, checked_zone};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::days::Zone;
use crate::store::populations::Population;
use crate::store::stats::{self as store, Counts, Range, Step};
use crate::store::websites as website_store;

/// Longest range an hourly series may cover.
const MAX_HOURLY_DAYS: i64 = 31;
/// Most pages the funnel lists.
const MAX_PAGES: i64 = 500;

/// Which websites and days a statistic covers; every statistics route takes these.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    pub website_id: Option<String>,
    /// First day, `YYYY-MM-DD`, in the website's time zone (or `tz`); 7 days ending `to` when
    /// absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Last day, inclusive; today in that zone when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// An IANA time zone (such as `America/Los_Angeles`) whose days to count in, instead of each
    /// website's own (`PUT /v1/websites/{id}/time_zone`, UTC until set).
    pub tz: Option<String>,
    /// `day` (default) or `hour`: local days or local wall-clock hours.
    pub interval: Option<String>,
}

/// [`StatsParams`] with a page filter, for the funnel.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelParams {
    pub website_id: Option<String>,
    /// First day, `YYYY-MM-DD`, in the website's time zone (or `tz`); 7 days ending `to` when
    /// absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Last day, inclusive; today in that zone when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// An IANA time zone whose days to count in, instead of each website's own.
    pub tz: Option<String>,
    /// Only conversations whose widget loaded on this page (`""`: never loaded).
    pub page_url: Option<String>,
    /// `hour` (default, ≤ 31 days) or `day` buckets for the series.
    pub interval: Option<String>,
}

/// What every statistics route resolves its parameters to.
struct Scope {
    websites: Option<Vec<String>>,
    days: Days,
    zone: Zone,
    /// The zone named in answers: the request's, else the one website's.
    time_zone: Option<String>,
}

impl Scope {
    async fn resolve(
        admin: &Admin,
        pool: &PgPool,
        website_id: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: Option<&str>,
    ) -> Result<Self, ApiError> {
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
    fn period(&self, days: Days, counts: &Counts) -> Period {
        Period {
            from: days.from,
            to: days.to,
            figures: Figures::from(counts),
            open: FIGURE_POPULATIONS
                .iter()
                .map(|(name, p)| (*name, self.open(*p, days)))
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
        let mut query = vec![
            ("population", population.name().to_owned()),
            ("from", days.from.to_string()),
            ("to", days.to.to_string()),
        ];
        if let [one] = self.websites.as_deref().unwrap_or_default() {
            query.push(("website_id", one.clone()));
        }
        if let Some(tz) = &self.zone.0 {
            query.push(("tz", tz.clone()));
        }
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        format!("/v1/conversations?{query}")
    }
}

/// `part / whole`; `None` when the whole is empty.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// The figures of a range, named as the dashboards show them. Every count is a population
/// of [`Population`] or a sum over the conversations started in the range; every `*_rate` is a
/// population divided by one that contains it. The glossary is `docs/statistics.md`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Figures {
    /// Conversations started in the range.
    pub conversations: i64,
    /// Conversations started in the range whose chat widget loaded.
    pub widget_loads: i64,
    /// Conversations started in the range in which the visitor engaged.
    pub engaged_conversations: i64,
    /// Conversations whose widget loaded and whose visitor engaged.
    pub loaded_engaged_conversations: i64,
    /// Engaged conversations without a widget load (API clients, bridges).
    pub engaged_without_load: i64,
    /// `loaded_engaged_conversations / widget_loads`: the share of loaded widgets that engaged.
    pub interaction_rate: Option<f64>,
    /// Messages of the conversations started in the range, from every sender.
    pub messages: i64,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    /// Messages of the engaged conversations per engaged conversation.
    pub avg_messages_per_conversation: Option<f64>,
    /// Distinct visitors who started a conversation in the range.
    pub unique_visitors: i64,
    /// CTA clicks in the conversations started in the range.
    pub cta_clicks: i64,
    /// Engaged conversations in which a CTA was clicked.
    pub cta_conversations: i64,
    /// `cta_conversations / engaged_conversations`.
    pub cta_rate: Option<f64>,
    /// Engaged conversations in which the visitor submitted contact details.
    pub contact_requests: i64,
    /// `contact_requests / engaged_conversations`.
    pub conversion_rate: Option<f64>,
    /// Mean response time of the bot messages that reported one, in those conversations.
    pub avg_bot_response_ms: Option<f64>,
    /// Engaged conversations in which a message asked for a human.
    pub escalated_conversations: i64,
    /// `escalated_conversations / engaged_conversations`.
    pub escalation_rate: Option<f64>,
    /// Conversations started in the range that were rated.
    pub ratings: i64,
    /// Mean rating (1–5) of the rated conversations.
    pub avg_rating: Option<f64>,
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

/// Which population each count of [`Figures`] is, for its drill-down.
pub const FIGURE_POPULATIONS: [(&str, Population); 9] = [
    ("conversations", Population::Started),
    ("widget_loads", Population::Loaded),
    ("engaged_conversations", Population::Engaged),
    ("loaded_engaged_conversations", Population::LoadedEngaged),
    ("engaged_without_load", Population::EngagedWithoutLoad),
    ("cta_conversations", Population::CtaClicked),
    ("contact_requests", Population::ContactSubmitted),
    ("escalated_conversations", Population::Escalated),
    ("ratings", Population::Rated),
];

impl From<&Counts> for Figures {
    fn from(c: &Counts) -> Self {
        let messages = c.user_messages + c.bot_messages + c.agent_messages;
        Self {
            conversations: c.conversations,
            widget_loads: c.loaded_conversations,
            engaged_conversations: c.engaged_conversations,
            loaded_engaged_conversations: c.loaded_engaged_conversations,
            engaged_without_load: c.engaged_without_load,
            interaction_rate: ratio(c.loaded_engaged_conversations, c.loaded_conversations),
            messages,
            user_messages: c.user_messages,
            bot_messages: c.bot_messages,
            agent_messages: c.agent_messages,
            avg_messages_per_conversation: ratio(c.engaged_messages, c.engaged_conversations),
            unique_visitors: c.unique_visitors,
            cta_clicks: c.cta_clicks,
            cta_conversations: c.cta_conversations,
            cta_rate: ratio(c.cta_conversations, c.engaged_conversations),
            contact_requests: c.contact_conversations,
            conversion_rate: ratio(c.contact_conversations, c.engaged_conversations),
            avg_bot_response_ms: ratio(c.bot_response_ms_sum, c.bot_responses),
            escalated_conversations: c.escalated_conversations,
            escalation_rate: ratio(c.escalated_conversations, c.engaged_conversations),
            ratings: c.rated_conversations,
            avg_rating: ratio(c.ratings_sum, c.rated_conversations),
        }
    }
}

/// A range's figures with the list each count opens as.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub figures: Figures,
    /// For each count, the `GET /v1/conversations` path listing the conversations it counts
    /// (their `total` equals it).
    pub open: BTreeMap<&'static str, String>,
}

async fn period(pool: &PgPool, scope: &Scope, days: Days) -> Result<Period, ApiError> {
    let counts = store::counts(pool, &scope.range(days)).await?;
    Ok(scope.period(days, &counts))
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

/// For each figure of `current` and `previous` that both have, its relative change:
/// `(current - previous) / previous`, null when `previous` is 0.
pub type Change = BTreeMap<String, Option<f64>>;

pub fn change(current: &Figures, previous: &Figures) -> Change {
    let (Ok(Value::Object(c)), Ok(Value::Object(p))) = (
        serde_json::to_value(current),
        serde_json::to_value(previous),
    ) else {
        return Change::new();
    };
    c.iter()
        .filter_map(|(k, v)| {
            let (now, before) = (v.as_f64()?, p.get(k)?.as_f64()?);
            Some((k.clone(), (before != 0.0).then(|| (now - before) / before)))
        })
        .collect()
}

/// One local day's (or hour's) figures.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Bucket<T> {
    /// The local day, `YYYY-MM-DD` (daily series).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The local hour, `YYYY-MM-DDTHH:00` (hourly series).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    #[serde(flatten)]
    pub figures: T,
}

impl<T> Bucket<T> {
    fn new(step: Step, key: String, figures: T) -> Self {
        let (day, hour) = match step {
            Step::Day => (Some(key), None),
            Step::Hour => (None, Some(key)),
        };
        Self { day, hour, figures }
    }
}

/// Every local day (or hour) of `days`, with the figures of those that had any.
fn filled<T>(
    rows: Vec<store::BucketRow>,
    days: Days,
    step: Step,
    figures: impl Fn(&Counts) -> T,
) -> Vec<Bucket<T>> {
    let mut rows: BTreeMap<String, Counts> =
        rows.into_iter().map(|r| (r.bucket, r.counts)).collect();
    filled_keys(days, step)
        .into_iter()
        .map(|key| {
            let counts = rows.remove(&key).unwrap_or_default();
            Bucket::new(step, key, figures(&counts))
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
    let scope = Scope::resolve(
        &admin,
        &state.pool,
        params.website_id.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
        params.tz.as_deref(),
    )
    .await?;
    let days = scope.days;
    let step = match params.interval.as_deref() {
        None | Some("day") => Step::Day,
        Some("hour") => {
            hourly_allowed(days)?;
            Step::Hour
        }
        Some(_) => return Err(ApiError::BadRequest("interval: day or hour".into())),
    };
    // The range's figures are its buckets' sums: one read gives both.
    let ((series, current), previous) = tokio::try_join!(
        async { Ok(store::series(&state.pool, &scope.range(days), step).await?) },
        period(&state.pool, &scope, days.previous()),
    )?;
    let current = scope.period(days, &current);
    Ok(Json(Statistics {
        change: change(&current.figures, &previous.figures),
        current,
        previous,
        time_zone: scope.time_zone,
        interval: step.key(),
        series: filled(series, days, step, |c| Figures::from(c)),
        as_of,
    }))
}

/// `GET /v1/stats`: a range's figures beside the previous range of the same length.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Statistics {
    pub current: Period,
    pub previous: Period,
    /// The relative change of each figure from `previous` to `current`.
    pub change: Change,
    /// The zone the days are counted in; null when they are each website's own.
    pub time_zone: Option<String>,
    /// `day` or `hour`.
    pub interval: &'static str,
    pub series: Vec<Bucket<Figures>>,
    pub as_of: AsOf,
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
    let scope = Scope::resolve(
        &admin,
        &state.pool,
        params.website_id.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
        params.tz.as_deref(),
    )
    .await?;
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
        series: filled(series, days, step, |c| Stages::from(c)),
        as_of,
    }))
}

/// The conversations at each stage of the funnel: each a population
/// ([`crate::store::populations`]), named as it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Stages {
    pub started: i64,
    pub loaded: i64,
    pub engaged: i64,
    pub loaded_engaged: i64,
    pub engaged_without_load: i64,
    pub cta_clicked: i64,
    pub contact_submitted: i64,
}

impl From<&Counts> for Stages {
    fn from(c: &Counts) -> Self {
        Self {
            started: c.of(Population::Started),
            loaded: c.of(Population::Loaded),
            engaged: c.of(Population::Engaged),
            loaded_engaged: c.of(Population::LoadedEngaged),
            engaged_without_load: c.of(Population::EngagedWithoutLoad),
            cta_clicked: c.of(Population::CtaClicked),
            contact_submitted: c.of(Population::ContactSubmitted),
        }
    }
}

/// The share of one stage that reaches another; null when the first is empty.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FunnelRates {
    pub engaged_of_loaded: Option<f64>,
    pub cta_clicked_of_engaged: Option<f64>,
    pub contact_submitted_of_engaged: Option<f64>,
}

/// The funnel of the conversations whose widget loaded on one page.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PageStages {
    pub page_url: String,
    #[serde(flatten)]
    pub stages: Stages,
}

/// `GET /v1/stats/funnel`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Funnel {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: Option<String>,
    pub stages: Stages,
    pub rates: FunnelRates,
    /// For each stage, the `GET /v1/conversations` path listing its conversations.
    pub open: BTreeMap<&'static str, String>,
    pub by_page: Vec<PageStages>,
    /// `hour` or `day`.
    pub interval: &'static str,
    pub series: Vec<Bucket<Stages>>,
    pub as_of: AsOf,
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

/// [`StatsParams`] without a series.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakdownParams {
    pub website_id: Option<String>,
    /// First day, `YYYY-MM-DD`, in the website's time zone (or `tz`); 7 days ending `to` when
    /// absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Last day, inclusive; today in that zone when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// An IANA time zone whose days to count in, instead of each website's own.
    pub tz: Option<String>,
}

/// `GET /v1/stats/breakdown`: the engaged conversations started in a range (and their
/// messages) by channel and by device; each row opens as its conversations.
pub async fn breakdown(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<BreakdownParams>,
) -> Result<Json<Breakdown>, ApiError> {
    let scope = Scope::resolve(
        &admin,
        &state.pool,
        params.website_id.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
        params.tz.as_deref(),
    )
    .await?;
    let days = scope.days;
    let (by_channel, by_device) = store::breakdown(&state.pool, &scope.range(days)).await?;
    let engaged = scope.open(Population::Engaged, days);
    let rows = |rows: Vec<store::ShareRow>, dimension: &str| -> Vec<Share> {
        rows.into_iter()
            .map(|share| {
                let open = format!(
                    "{engaged}&{}",
                    serde_urlencoded::to_string([(dimension, &share.key)]).unwrap_or_default()
                );
                Share { share, open }
            })
            .collect()
    };
    Ok(Json(Breakdown {
        from: days.from,
        to: days.to,
        time_zone: scope.time_zone,
        by_channel: rows(by_channel, "channel"),
        by_device: rows(by_device, "device"),
        as_of,
    }))
}

/// One value of a dimension, with the list of its conversations.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Share {
    #[serde(flatten)]
    pub share: store::ShareRow,
    /// The `GET /v1/conversations` path listing these conversations.
    pub open: String,
}

/// `GET /v1/stats/breakdown`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Breakdown {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: Option<String>,
    pub by_channel: Vec<Share>,
    pub by_device: Vec<Share>,
    pub as_of: AsOf,
}
