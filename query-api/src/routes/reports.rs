//! `POST /reports/weekly`: send the weekly reports now (the path the product's first backend
//! gave its scheduler), once per website and week however often it is called. A report quotes
//! what visitors wrote, so it cannot be turned against anyone: no week older than the
//! website's retention, at most `REPORT_SENDS_PER_DAY` reports a website a day, and its
//! recipients are bounded ([`schemas::payloads::MAX_REPORT_RECIPIENTS`]).

use axum::Json;
use axum::extract::State;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::params::{Params, date};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::reports::{self, Delivery, last_week, week_of};
use crate::store::deliveries;
use crate::store::websites as store;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyParams {
    /// Only this website's report; every website in the token's scope with recipients when
    /// absent.
    pub website_id: Option<String>,
    /// Any day of the week to report, `YYYY-MM-DD`; the last whole week when absent.
    #[schemars(with = "Option<chrono::NaiveDate>")]
    pub week: Option<String>,
}

pub async fn weekly(
    admin: Admin,
    State(state): State<AppState>,
    Params(params): Params<WeeklyParams>,
) -> Result<Json<Weekly>, ApiError> {
    let websites = admin.scope.narrow(params.website_id.as_deref())?;
    let day = params
        .week
        .as_deref()
        .map(|d| date("week", d))
        .transpose()?;
    let Some(mailer) = &state.mailer else {
        return Err(ApiError::NotConfigured(
            "no SMTP server is configured (EMAIL_HOST): reports cannot be sent",
        ));
    };
    if runtime::read_models::rebuilding(&state.pool).await? {
        return Err(ApiError::TryLater(
            "a rebuild of the read models is running: reports are sent once it has switched".into(),
        ));
    }
    let schedules = store::schedules(&state.pool, websites.as_deref(), Utc::now()).await?;
    if schedules.is_empty() {
        return Err(ApiError::Conflict(
            "no website here has report recipients: set them with PUT /v1/websites/{id}/reports"
                .into(),
        ));
    }
    // Every week is checked before anything is sent.
    let mut weeks = Vec::with_capacity(schedules.len());
    for schedule in &schedules {
        let latest = last_week(schedule.local_now, schedule.weekday);
        let week = day.map_or(latest, |day| week_of(day, schedule.weekday));
        if week.to > latest.to {
            return Err(ApiError::BadRequest(format!(
                "week: {} to {} is not over yet for {}",
                week.from, week.to, schedule.website_id
            )));
        }
        let kept_since =
            schedule.local_now.date() - chrono::Days::new(schedule.retention_days as u64);
        if week.from < kept_since {
            return Err(ApiError::BadRequest(format!(
                "week: {} to {} is older than {}'s retention of {} days",
                week.from, week.to, schedule.website_id, schedule.retention_days
            )));
        }
        if !reports::was_delivered(&state.pool, &schedule.website_id, week).await? {
            let recent = deliveries::in_the_last_day(&state.pool, &schedule.website_id).await?;
            let sent = recent.count;
            if sent >= i64::from(state.report_sends_per_day) {
                let wait = recent
                    .next_free_at
                    .map_or(1, |at| (at - Utc::now()).num_seconds().max(1));
                return Err(ApiError::Limited {
                    message: format!(
                        "{} was sent {sent} reports in the last 24 hours, its limit \
                         (REPORT_SENDS_PER_DAY)",
                        schedule.website_id
                    ),
                    whole_server: false,
                    retry_after_s: wait as u64,
                });
            }
        }
        weeks.push(week);
    }
    let mut sent = vec![];
    for (schedule, week) in schedules.iter().zip(weeks) {
        let delivery = reports::deliver(
            &state.pool,
            mailer,
            schedule,
            week,
            state.bot_quality_questions,
        )
        .await?;
        sent.push(Sent {
            website_id: schedule.website_id.clone(),
            from: week.from,
            to: week.to,
            delivery,
        });
    }
    Ok(Json(Weekly {
        status: "report_sent",
        reports: sent,
    }))
}

/// `POST /reports/weekly`: what became of each website's report.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Weekly {
    /// `report_sent`.
    pub status: &'static str,
    pub reports: Vec<Sent>,
}

/// One website's report for one week.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Sent {
    pub website_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub delivery: Delivery,
}
