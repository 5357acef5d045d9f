//! `GET /v1/stats`: a date range's statistics, the previous period of equal length for
//! comparison, and a daily (or hourly) series.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::params::{Days, Params};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::stats::{self as store, Sums};

/// Longest range an hourly series may cover.
const MAX_HOURLY_DAYS: i64 = 31;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    pub website_id: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC); 7 days ending `to` when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Last day, inclusive; today when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// `day` (default) or `hour`.
    pub interval: Option<String>,
}

fn ratio(part: i64, whole: i64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(part as f64 / whole as f64)
    }
}

/// Every statistic of a range, named as the dashboards show them.
pub async fn period(
    pool: &PgPool,
    websites: Option<&[String]>,
    days: Days,
) -> Result<Value, ApiError> {
    let (start, end) = days.instants();
    // Three reads of different tables, on connections of their own: Postgres runs them on
    // both cores at once.
    let (s, visitors, escalated): (Sums, i64, i64) = tokio::try_join!(
        store::sums(pool, websites, days.from, days.to),
        store::unique_visitors(pool, websites, days.from, days.to),
        store::escalated(pool, websites, start, end),
    )?;
    let messages = s.user_messages + s.bot_messages + s.agent_messages;
    Ok(json!({
        "from": days.from,
        "to": days.to,
        "widget_loads": s.widget_loads,
        "engaged_conversations": s.engaged_conversations,
        "interaction_rate": ratio(s.engaged_conversations, s.widget_loads),
        "messages": messages,
        "user_messages": s.user_messages,
        "bot_messages": s.bot_messages,
        "agent_messages": s.agent_messages,
        "avg_messages_per_conversation": ratio(messages, s.engaged_conversations),
        "unique_visitors": visitors,
        "cta_clicks": s.cta_clicks,
        "cta_rate": ratio(s.cta_clicks, s.engaged_conversations),
        "contact_requests": s.contact_requests,
        "conversion_rate": ratio(s.contact_requests, s.engaged_conversations),
        "avg_bot_response_ms": ratio(s.bot_response_ms_sum, s.bot_responses),
        "escalated_conversations": escalated,
        "escalation_rate": ratio(escalated, s.engaged_conversations),
        "ratings": s.ratings_count,
        "avg_rating": ratio(s.ratings_sum, s.ratings_count),
    }))
}

/// The relative change of every numeric statistic from `previous` to `current`.
pub fn change(current: &Value, previous: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let (Some(c), Some(p)) = (current.as_object(), previous.as_object()) {
        for (k, v) in c {
            if let (Some(now), Some(before)) = (v.as_f64(), p.get(k).and_then(Value::as_f64)) {
                let delta = if before == 0.0 {
                    Value::Null
                } else {
                    json!((now - before) / before)
                };
                out.insert(k.clone(), delta);
            }
        }
    }
    Value::Object(out)
}

pub async fn stats(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let websites = websites.as_deref();
    let days = Days::parse(params.from.as_deref(), params.to.as_deref(), 7)?;
    let hourly = match params.interval.as_deref() {
        None | Some("day") => false,
        Some("hour") if days.len() <= MAX_HOURLY_DAYS => true,
        Some("hour") => {
            return Err(ApiError::BadRequest(format!(
                "interval: hourly series cover at most {MAX_HOURLY_DAYS} days"
            )));
        }
        Some(_) => return Err(ApiError::BadRequest("interval: day or hour".into())),
    };
    let series = async {
        Ok::<_, ApiError>(if hourly {
            let (start, end) = days.instants();
            json!(store::hourly(&state.pool, websites, start, end).await?)
        } else {
            json!(store::daily(&state.pool, websites, days.from, days.to).await?)
        })
    };
    let (current, previous, series) = tokio::try_join!(
        period(&state.pool, websites, days),
        period(&state.pool, websites, days.previous()),
        series,
    )?;
    Ok(Json(json!({
        "current": current,
        "previous": previous,
        "change": change(&current, &previous),
        "interval": if hourly { "hour" } else { "day" },
        "series": series,
        "as_of": as_of,
    })))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelParams {
    pub website_id: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC); 7 days ending `to` when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Last day, inclusive; today when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
    /// Only conversations whose widget loaded on this page.
    pub page_url: Option<String>,
    /// `hour` (default, ≤ 31 days) or `day` buckets for the series.
    pub interval: Option<String>,
}

/// `GET /v1/stats/funnel`: conversations reaching each stage — widget loaded, engaged, CTA
/// clicked, contact submitted — with the rate from each stage to the next, per page, and an
/// hourly (or daily) series; bucketed by the hour the widget loaded.
pub async fn funnel(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<FunnelParams>,
) -> Result<Json<Value>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let websites = websites.as_deref();
    let days = Days::parse(params.from.as_deref(), params.to.as_deref(), 7)?;
    let step = match params.interval.as_deref() {
        None | Some("hour") if days.len() <= MAX_HOURLY_DAYS => "hour",
        None | Some("day") => "day",
        Some("hour") => {
            return Err(ApiError::BadRequest(format!(
                "interval: hourly series cover at most {MAX_HOURLY_DAYS} days"
            )));
        }
        Some(_) => return Err(ApiError::BadRequest("interval: hour or day".into())),
    };
    let page = params.page_url.as_deref();
    let (start, end) = days.instants();
    let total = store::funnel(&state.pool, websites, start, end, page).await?;
    let by_page = store::funnel_by_page(&state.pool, websites, start, end, page).await?;
    let series = store::funnel_series(&state.pool, websites, start, end, page, step).await?;
    Ok(Json(json!({
        "from": days.from,
        "to": days.to,
        "stages": total,
        "rates": {
            "engaged_of_loaded": ratio(total.engaged, total.loaded),
            "cta_clicked_of_engaged": ratio(total.cta_clicked, total.engaged),
            "contact_submitted_of_engaged": ratio(total.contact_submitted, total.engaged),
        },
        "by_page": by_page,
        "interval": step,
        "series": series,
        "as_of": as_of,
    })))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakdownParams {
    pub website_id: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC); 7 days ending `to` when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub from: Option<String>,
    /// Last day, inclusive; today when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub to: Option<String>,
}

/// `GET /v1/stats/breakdown`: the conversations engaged in a range (and their messages) by
/// channel and by device.
pub async fn breakdown(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<BreakdownParams>,
) -> Result<Json<Value>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let websites = websites.as_deref();
    let days = Days::parse(params.from.as_deref(), params.to.as_deref(), 7)?;
    let (start, end) = days.instants();
    let (by_channel, by_device) = store::breakdown(&state.pool, websites, start, end).await?;
    Ok(Json(json!({
        "from": days.from,
        "to": days.to,
        "by_channel": by_channel,
        "by_device": by_device,
        "as_of": as_of,
    })))
}
