//! Weekly e-mail reports: each website's statistics for a week beside the week before, its
//! busiest pages and its open contact requests, sent to the recipients an admin set
//! (`PUT /v1/websites/{id}/reports`) on their schedule, or on demand (`POST /reports/weekly`).
//!
//! - [`due`]: when a schedule says a week's report is owed.
//! - [`gather`]: the figures, from the same functions that answer `GET /v1/stats`, so the two
//!   agree for the same days.
//! - [`render`]: the message, in plain text and HTML.
//! - [`deliver`]: at most one send per website and week, across restarts and instances, through
//!   a claim in `colloquy.report_deliveries`.
//!
//! Nothing is sent while a rebuild runs (`runtime::read_models::rebuilding`): not from read
//! models about to be replaced.

pub mod render;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::ApiError;
use crate::mail::Mailer;
use crate::routes::params::Days;
use crate::routes::stats::quality::{self, QuestionGroup};
use crate::routes::stats::{change, period_of};
use crate::store::days::Zone;
use crate::store::deliveries;
use crate::store::requests::{self, RequestRow};
use crate::store::stats::{self as stats, PageRow, Range};
use crate::store::websites::{self as websites, Schedule};

/// How long after its scheduled time a report is still sent: a query-api that was down at
/// 08:00 sends it when it is back within the day; later, only `POST /reports/weekly` does.
pub const CATCH_UP: TimeDelta = TimeDelta::hours(24);
/// Pages and requests a report lists.
const TOP_PAGES: i64 = 5;
const OPEN_REQUESTS: i64 = 10;
/// Groups of questions the bot could not handle a report lists.
const TOP_QUESTIONS: usize = 5;

/// The week a report scheduled on `weekday` (ISO, 1 = Monday) covers when it is sent on
/// `day`: the seven days before `day`.
pub fn week_before(day: NaiveDate) -> Days {
    Days {
        from: day - TimeDelta::days(7),
        to: day - TimeDelta::days(1),
    }
}

/// The last day on or before `today` that falls on `weekday`.
fn last_weekday(today: NaiveDate, weekday: i16) -> NaiveDate {
    let back = (i64::from(today.weekday().number_from_monday()) - i64::from(weekday)).rem_euclid(7);
    today - TimeDelta::days(back)
}

/// The report week holding `day` for a website whose reports go out on `weekday`: weeks start
/// on that weekday.
pub fn week_of(day: NaiveDate, weekday: i16) -> Days {
    let from = last_weekday(day, weekday);
    Days {
        from,
        to: from + TimeDelta::days(6),
    }
}

/// The week whose report is owed at `local_now` (in the website's time zone), if its scheduled
/// time — `weekday` at `hour` — passed less than [`CATCH_UP`] ago.
pub fn due(local_now: NaiveDateTime, weekday: i16, hour: i16) -> Option<Days> {
    let hour = NaiveTime::from_hms_opt(u32::try_from(hour).ok()?, 0, 0)?;
    let mut day = last_weekday(local_now.date(), weekday);
    if local_now < day.and_time(hour) {
        day -= TimeDelta::days(7);
    }
    (local_now - day.and_time(hour) < CATCH_UP).then(|| week_before(day))
}

/// The last whole week before `local_now` for a website whose reports go out on `weekday`:
/// what `POST /reports/weekly` sends when no week is named.
pub fn last_week(local_now: NaiveDateTime, weekday: i16) -> Days {
    week_before(last_weekday(local_now.date(), weekday))
}

/// Everything one report says.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub website_id: String,
    pub name: Option<String>,
    pub week: Days,
    /// `GET /v1/stats`' `current`, `previous` and `change` for the week.
    pub current: Value,
    pub previous: Value,
    pub change: Value,
    /// The pages the widget loaded on most, with their funnel.
    pub top_pages: Vec<PageRow>,
    /// The newest pending requests, and how many are pending and contacted in all (now, not
    /// as of the week's end: they are what is still to do).
    pub open_requests: Vec<RequestRow>,
    pub pending: i64,
    pub contacted: i64,
    /// The biggest groups of questions the bot could not handle (`GET /v1/bot-quality`).
    pub questions: Vec<QuestionGroup>,
}

/// The week's figures for `website_id`; `max_questions` as `BOT_QUALITY_QUESTIONS`.
pub async fn gather(
    pool: &PgPool,
    website_id: &str,
    name: Option<String>,
    week: Days,
    max_questions: i64,
) -> Result<Report, ApiError> {
    let scope = [website_id.to_owned()];
    let scope = Some(&scope[..]);
    let zone = Zone::default();
    let range = Range {
        websites: scope,
        from: week.from,
        to: week.to,
        zone: &zone,
        page_url: None,
    };
    let (current, previous, top_pages, (open_requests, pending), (_, contacted), questions) = tokio::try_join!(
        period_of(pool, scope, week),
        period_of(pool, scope, week.previous()),
        async { Ok::<_, ApiError>(stats::by_page(pool, &range, TOP_PAGES).await?) },
        async {
            Ok::<_, ApiError>(requests::list(pool, scope, Some("pending"), OPEN_REQUESTS, 0).await?)
        },
        async { Ok::<_, ApiError>(requests::list(pool, scope, Some("contacted"), 0, 0).await?) },
        quality::groups(pool, &range, TOP_QUESTIONS, max_questions),
    )?;
    // The message reads the figures by name.
    let change = serde_json::to_value(change(&current.figures, &previous.figures));
    Ok(Report {
        website_id: website_id.to_owned(),
        name,
        week,
        change: change.unwrap_or_default(),
        current: serde_json::to_value(current).unwrap_or_default(),
        previous: serde_json::to_value(previous).unwrap_or_default(),
        top_pages,
        open_requests,
        pending,
        contacted,
        questions: questions.0,
    })
}

/// What became of one website's report for one week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Delivery {
    /// Sent now, to this many recipients.
    Sent { recipients: usize },
    /// Sent before (or, with `sent_at` empty, claimed by a send that never said how it ended:
    /// a process that died mid-send. It is not sent again, so that it is never sent twice).
    AlreadySent {
        claimed_at: DateTime<Utc>,
        sent_at: Option<DateTime<Utc>>,
    },
}

/// How far `week`'s report for `website_id` got, if anyone started sending it.
async fn delivered(
    pool: &PgPool,
    website_id: &str,
    week: Days,
) -> Result<Option<Delivery>, sqlx::Error> {
    let claim = deliveries::find(pool, website_id, week.from).await?;
    Ok(claim.map(|c| Delivery::AlreadySent {
        claimed_at: c.claimed_at,
        sent_at: c.sent_at,
    }))
}

/// Whether `week`'s report for `website_id` was sent (or claimed) before.
pub async fn was_delivered(
    pool: &PgPool,
    website_id: &str,
    week: Days,
) -> Result<bool, sqlx::Error> {
    Ok(delivered(pool, website_id, week).await?.is_some())
}

/// Sends `schedule`'s report for `week`, unless it was sent (or claimed) before. The figures
/// are read before the claim, so that a database failing then leaves no claim behind.
pub async fn deliver(
    pool: &PgPool,
    mailer: &Mailer,
    schedule: &Schedule,
    week: Days,
    max_questions: i64,
) -> Result<Delivery, ApiError> {
    let website = schedule.website_id.as_str();
    if let Some(before) = delivered(pool, website, week).await? {
        return Ok(before);
    }
    let report = gather(pool, website, schedule.name.clone(), week, max_questions).await?;
    if !deliveries::claim(pool, website, week.from, &schedule.recipients).await? {
        // Another instance claimed it in between.
        return Ok(delivered(pool, website, week)
            .await?
            .unwrap_or(Delivery::AlreadySent {
                claimed_at: Utc::now(),
                sent_at: None,
            }));
    }
    let sent = mailer
        .send(
            &schedule.recipients,
            &render::subject(&report),
            render::text(&report),
            render::html(&report),
        )
        .await;
    if let Err(error) = sent {
        // The server did not take it: nothing went out, so the claim is released and the next
        // attempt sends it.
        deliveries::release(pool, website, week.from).await?;
        return Err(ApiError::TryLater(format!(
            "the report was not sent: {error}"
        )));
    }
    deliveries::mark_sent(pool, website, week.from).await?;
    Ok(Delivery::Sent {
        recipients: schedule.recipients.len(),
    })
}

/// Sends every report owed at `now`; returns what was sent. Nothing while a rebuild runs.
pub async fn run_once(
    pool: &PgPool,
    mailer: &Mailer,
    now: DateTime<Utc>,
    max_questions: i64,
) -> Result<Vec<(String, Days, Delivery)>, ApiError> {
    if runtime::read_models::rebuilding(pool).await? {
        return Ok(vec![]);
    }
    let mut sent = vec![];
    for schedule in websites::schedules(pool, None, now).await? {
        let Some(week) = due(schedule.local_now, schedule.weekday, schedule.hour) else {
            continue;
        };
        match deliver(pool, mailer, &schedule, week, max_questions).await {
            Ok(delivery @ Delivery::Sent { .. }) => {
                sent.push((schedule.website_id, week, delivery));
            }
            Ok(Delivery::AlreadySent { .. }) => {}
            Err(error) => {
                tracing::warn!(%error, website = schedule.website_id, "weekly report not sent; trying again");
            }
        }
    }
    Ok(sent)
}

/// Runs [`run_once`] every `interval` until the runtime stops, counting in `metrics`.
pub fn spawn(
    pool: PgPool,
    mailer: Arc<Mailer>,
    interval: Duration,
    max_questions: i64,
    metrics: Arc<crate::metrics::QueryMetrics>,
) {
    tokio::spawn(async move {
        loop {
            let ran = run_once(&pool, &mailer, Utc::now(), max_questions).await;
            metrics.job("reports", ran.is_ok());
            match ran {
                Ok(sent) => {
                    metrics.reports_sent.inc_by(sent.len() as u64);
                    for (website, week, _) in sent {
                        tracing::info!(website, from = %week.from, "weekly report sent");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "weekly reports not checked; trying next time")
                }
            }
            tokio::time::sleep(interval).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn week(from: &str, to: &str) -> Option<Days> {
        Some(Days {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        })
    }

    #[test]
    fn a_report_is_owed_from_its_hour_for_a_day_and_covers_the_seven_days_before() {
        // 2026-11-23 is a Monday.
        assert_eq!(due(local("2026-11-23 07:59"), 1, 8), None);
        assert_eq!(
            due(local("2026-11-23 08:00"), 1, 8),
            week("2026-11-16", "2026-11-22")
        );
        assert_eq!(
            due(local("2026-11-24 07:59"), 1, 8),
            week("2026-11-16", "2026-11-22")
        );
        assert_eq!(due(local("2026-11-24 08:00"), 1, 8), None);
        assert_eq!(due(local("2026-11-29 23:00"), 1, 8), None);
        // A Friday 17:00 schedule covers Friday to Thursday.
        assert_eq!(
            due(local("2026-11-27 17:30"), 5, 17),
            week("2026-11-20", "2026-11-26")
        );
        // Sunday (7) late in the evening, seen just after midnight.
        assert_eq!(
            due(local("2026-11-30 00:10"), 7, 23),
            week("2026-11-22", "2026-11-28")
        );
    }

    #[test]
    fn the_last_week_is_the_whole_one_before_the_latest_report_day() {
        assert_eq!(
            Some(last_week(local("2026-11-25 12:00"), 1)),
            week("2026-11-16", "2026-11-22")
        );
        // On the report day itself, before its hour too: that day's week is whole.
        assert_eq!(
            Some(last_week(local("2026-11-23 01:00"), 1)),
            week("2026-11-16", "2026-11-22")
        );
        let day = |d: &str| d.parse().unwrap();
        assert_eq!(
            Some(week_of(day("2026-11-22"), 1)),
            week("2026-11-16", "2026-11-22")
        );
        assert_eq!(
            Some(week_of(day("2026-11-16"), 1)),
            week("2026-11-16", "2026-11-22")
        );
        assert_eq!(
            Some(week_of(day("2026-11-19"), 5)),
            week("2026-11-13", "2026-11-19")
        );
    }
}
