//! `GET|POST /v1/websites`, `GET|PUT /v1/websites/{id}/privacy`,
//! `GET|PUT /v1/websites/{id}/reports` and `GET|PUT /v1/websites/{id}/time_zone`.

use std::future::Future;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use schemas::Payload;
use schemas::payloads::{
    DEFAULT_CONTACT_REVIEW_MONTHS, DEFAULT_DEMO_KEYWORDS, DEFAULT_IDLE_MINUTES,
    DEFAULT_LOW_CONFIDENCE, DEFAULT_PRICING_KEYWORDS, DEFAULT_REPORT_HOUR,
    DEFAULT_REPORT_TIME_ZONE, DEFAULT_REPORT_WEEKDAY, DEFAULT_RETENTION_DAYS, MAX_IDLE_MINUTES,
    MAX_LEAD_KEYWORDS, MAX_REPORT_RECIPIENTS, WebsiteBotSettings, WebsiteCreated,
    WebsiteLeadKeywords, WebsitePrivacy, WebsiteReports, WebsiteTimeZone,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::answers::{Action, Body, Creation, Listed, Page, Read, Whole, acted, read};
use super::bad_request;
use super::params::checked_zone;
use crate::AppState;
use crate::actions::{self, Outcome};
use crate::auth::{Admin, Scope};
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::store::websites::{self as store, WebsiteRow};

impl Listed for WebsiteRow {
    const KEY: &'static str = "websites";
}

pub async fn list(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
) -> Result<Json<Page<WebsiteRow, Whole>>, ApiError> {
    let websites = store::list(&state.pool, admin.scope.websites()).await?;
    Ok(Json(Page::new(websites, Whole {}, as_of)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebsite {
    #[schemars(length(min = 1, max = 256), regex(pattern = r"\S"))]
    name: String,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

/// A lower-case, dash-separated form of a name, for readable website ids.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// A website being created: its row once the projector applied the creation.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Created {
    pub website_id: String,
    /// Null until the projector applied the creation (202).
    pub website: Option<WebsiteRow>,
}

pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Body(new): Body<NewWebsite>,
) -> Result<Creation<Created>, ApiError> {
    if admin.scope != Scope::All {
        return Err(ApiError::Forbidden(
            "only the bootstrap token can create websites",
        ));
    }
    let suffix = Uuid::new_v4().simple().to_string();
    let base = slug(&new.name);
    let website_id = if base.is_empty() {
        format!("site-{}", &suffix[..8])
    } else {
        format!("{base}-{}", &suffix[..8])
    };
    let payload = WebsiteCreated {
        website_id: website_id.clone(),
        name: new.name.trim().to_owned(),
        write_key: format!("wk_{}", Uuid::new_v4().simple()),
        allowed_origins: new.allowed_origins,
    };
    let payload = Payload::WebsiteCreated(payload);
    payload.validate().map_err(bad_request)?;
    let event = actions::event(&website_id, &website_id, payload);
    let outcome = actions::submit(&state, &admin.actor, event).await?;
    let website = match outcome {
        Outcome::Applied(_) => store::find(&state.pool, &website_id).await?,
        Outcome::Pending(_) => None,
    };
    Ok(acted(
        outcome,
        Created {
            website_id,
            website,
        },
    ))
}

/// What `PUT /v1/websites/{id}/privacy` sets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Store visitors' IPv4 addresses with the last octet zeroed and IPv6 cut to the /48,
    /// at ingest, before events reach the topic. Applies to events received from the moment
    /// ingest hears the change from the projector (at the latest within
    /// `INGEST_WEBSITES_REFRESH_MS`).
    anonymize_ip: bool,
    /// Days raw IP addresses and message texts are kept (default 90); the retention job clears
    /// older ones with `retention.applied` events.
    #[schemars(range(min = 1, max = u32::MAX))]
    retention_days: Option<u32>,
    /// Months without activity after which a contact is due for review (default 12):
    /// `GET /v1/contacts?review_due=true`.
    #[schemars(range(min = 1, max = u32::MAX))]
    contact_review_months: Option<u32>,
    /// Record each browser visitor's country, looked up from the address before it is
    /// anonymised (default true). Applies to events received from the moment ingest reloads
    /// the setting.
    record_country: Option<bool>,
}

pub(super) fn visible(admin: &Admin, website_id: &str) -> Result<(), ApiError> {
    if admin.scope.allows(website_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("this token does not see that website"))
    }
}

/// A website's privacy settings; the defaults until an admin sets them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Privacy {
    pub website_id: String,
    /// Null until an admin sets it: ingest's `INGEST_ANONYMIZE_IP` applies.
    pub anonymize_ip: Option<bool>,
    pub retention_days: i32,
    pub contact_review_months: i32,
    /// Whether browser visitors' countries are recorded (`context.country`).
    pub record_country: bool,
    /// When an admin last set them.
    pub changed_at: Option<DateTime<Utc>>,
}

async fn privacy_of(state: &AppState, website_id: &str) -> Result<Privacy, ApiError> {
    let row = store::privacy(&state.pool, website_id).await?;
    Ok(Privacy {
        website_id: website_id.to_owned(),
        anonymize_ip: row.as_ref().map(|r| r.anonymize_ip),
        retention_days: row
            .as_ref()
            .map_or(DEFAULT_RETENTION_DAYS as i32, |r| r.retention_days),
        contact_review_months: row
            .as_ref()
            .map_or(DEFAULT_CONTACT_REVIEW_MONTHS as i32, |r| {
                r.contact_review_months
            }),
        record_country: row.as_ref().is_none_or(|r| r.record_country),
        changed_at: row.map(|r| r.changed_at),
    })
}

pub async fn privacy(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Read<Privacy>>, ApiError> {
    visible(&admin, &website_id)?;
    read(privacy_of(&state, &website_id).await?, as_of)
}

pub async fn set_privacy(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    Body(settings): Body<PrivacySettings>,
) -> Result<Action<Privacy>, ApiError> {
    visible(&admin, &website_id)?;
    let payload = Payload::WebsitePrivacyChanged(WebsitePrivacy {
        website_id: website_id.clone(),
        anonymize_ip: settings.anonymize_ip,
        retention_days: settings.retention_days,
        contact_review_months: settings.contact_review_months,
        record_country: settings.record_country,
    });
    payload.validate().map_err(bad_request)?;
    let asked = Privacy {
        website_id: website_id.clone(),
        anonymize_ip: Some(settings.anonymize_ip),
        retention_days: settings.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS) as i32,
        contact_review_months: settings
            .contact_review_months
            .unwrap_or(DEFAULT_CONTACT_REVIEW_MONTHS) as i32,
        record_country: settings.record_country.unwrap_or(true),
        changed_at: None,
    };
    set(&state, &admin, &website_id, payload, asked, || {
        privacy_of(&state, &website_id)
    })
    .await
}

/// What `PUT /v1/websites/{id}/reports` sets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// The addresses the weekly report goes to; an empty list turns it off.
    #[schemars(length(max = MAX_REPORT_RECIPIENTS))]
    recipients: Vec<String>,
    /// IANA time zone of the schedule (default `UTC`), such as `Europe/Berlin`.
    time_zone: Option<String>,
    /// ISO day of the week the report is sent on, 1 (Monday, the default) to 7; it covers the
    /// seven days before.
    #[schemars(range(min = 1, max = 7))]
    weekday: Option<u8>,
    /// Hour of that day, 0 to 23 (default 8).
    #[schemars(range(max = 23))]
    hour: Option<u8>,
}

/// Who receives a website's weekly report and when; recipients are empty (reports off) until
/// an admin sets them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Reports {
    pub website_id: String,
    pub recipients: Vec<String>,
    pub time_zone: String,
    /// ISO day of the week, 1 (Monday) to 7.
    pub weekday: i16,
    pub hour: i16,
    /// When an admin last set them.
    pub changed_at: Option<DateTime<Utc>>,
}

async fn reports_of(state: &AppState, website_id: &str) -> Result<Reports, ApiError> {
    let row = store::reports(&state.pool, website_id).await?;
    Ok(Reports {
        website_id: website_id.to_owned(),
        recipients: row
            .as_ref()
            .map(|r| r.recipients.clone())
            .unwrap_or_default(),
        time_zone: row
            .as_ref()
            .map_or(DEFAULT_REPORT_TIME_ZONE, |r| r.time_zone.as_str())
            .to_owned(),
        weekday: row
            .as_ref()
            .map_or(DEFAULT_REPORT_WEEKDAY.into(), |r| r.weekday),
        hour: row.as_ref().map_or(DEFAULT_REPORT_HOUR.into(), |r| r.hour),
        changed_at: row.map(|r| r.changed_at),
    })
}

pub async fn reports(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Read<Reports>>, ApiError> {
    visible(&admin, &website_id)?;
    read(reports_of(&state, &website_id).await?, as_of)
}

pub async fn set_reports(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    Body(settings): Body<ReportSettings>,
) -> Result<Action<Reports>, ApiError> {
    visible(&admin, &website_id)?;
    let zone = settings.time_zone.clone();
    let payload = WebsiteReports {
        website_id: website_id.clone(),
        recipients: settings.recipients,
        time_zone: settings.time_zone,
        weekday: settings.weekday,
        hour: settings.hour,
    };
    let asked = Reports {
        website_id: website_id.clone(),
        recipients: payload.recipients.clone(),
        time_zone: payload
            .time_zone
            .clone()
            .unwrap_or_else(|| DEFAULT_REPORT_TIME_ZONE.to_owned()),
        weekday: payload.weekday.unwrap_or(DEFAULT_REPORT_WEEKDAY).into(),
        hour: payload.hour.unwrap_or(DEFAULT_REPORT_HOUR).into(),
        changed_at: None,
    };
    let payload = Payload::WebsiteReportsChanged(payload);
    payload.validate().map_err(bad_request)?;
    if let Some(zone) = zone {
        checked_zone(&state.pool, "time_zone", &zone).await?;
    }
    set(&state, &admin, &website_id, payload, asked, || {
        reports_of(&state, &website_id)
    })
    .await
}

/// What `PUT /v1/websites/{id}/time_zone` sets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeZoneSetting {
    /// An IANA time zone, such as `America/Los_Angeles` or `Asia/Kolkata`.
    time_zone: String,
}

/// The zone a website's days are counted in; UTC until an admin sets one.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TimeZone {
    pub website_id: String,
    /// An IANA time zone name.
    pub time_zone: String,
    /// When an admin last set it.
    pub changed_at: Option<DateTime<Utc>>,
}

async fn time_zone_of(state: &AppState, website_id: &str) -> Result<TimeZone, ApiError> {
    let row = store::time_zone_row(&state.pool, website_id).await?;
    Ok(TimeZone {
        website_id: website_id.to_owned(),
        time_zone: row
            .as_ref()
            .map_or_else(|| "UTC".to_owned(), |r| r.time_zone.clone()),
        changed_at: row.map(|r| r.changed_at),
    })
}

pub async fn time_zone(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Read<TimeZone>>, ApiError> {
    visible(&admin, &website_id)?;
    read(time_zone_of(&state, &website_id).await?, as_of)
}

pub async fn set_time_zone(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    Body(setting): Body<TimeZoneSetting>,
) -> Result<Action<TimeZone>, ApiError> {
    visible(&admin, &website_id)?;
    let payload = Payload::WebsiteTimeZoneChanged(WebsiteTimeZone {
        website_id: website_id.clone(),
        time_zone: setting.time_zone.clone(),
    });
    payload.validate().map_err(bad_request)?;
    checked_zone(&state.pool, "time_zone", &setting.time_zone).await?;
    let asked = TimeZone {
        website_id: website_id.clone(),
        time_zone: setting.time_zone,
        changed_at: None,
    };
    set(&state, &admin, &website_id, payload, asked, || {
        time_zone_of(&state, &website_id)
    })
    .await
}

/// What `PUT /v1/websites/{id}/bot_settings` sets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotSettingsSetting {
    /// A bot answer whose `confidence_score` is below this counts as unsure (default 0.5).
    #[schemars(range(min = 0.0, max = 1.0))]
    low_confidence: Option<f64>,
    /// Minutes of silence after which an open conversation counts as over (default 30).
    #[schemars(range(min = 1, max = MAX_IDLE_MINUTES))]
    idle_minutes: Option<u32>,
}

/// How a website's bot is judged: the defaults until an admin sets them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BotSettings {
    pub website_id: String,
    /// A bot answer whose `confidence_score` is below this counts as unsure (the bot-quality
    /// view lists the questions behind them).
    pub low_confidence: f64,
    /// Minutes of silence after which an open conversation counts as over: contained or
    /// abandoned (`docs/statistics.md`).
    pub idle_minutes: i64,
    /// When an admin last set them.
    pub changed_at: Option<DateTime<Utc>>,
}

async fn bot_settings_of(state: &AppState, website_id: &str) -> Result<BotSettings, ApiError> {
    let row = store::bot_settings(&state.pool, website_id).await?;
    Ok(BotSettings {
        website_id: website_id.to_owned(),
        low_confidence: row
            .as_ref()
            .map_or(DEFAULT_LOW_CONFIDENCE, |r| r.low_confidence),
        idle_minutes: row
            .as_ref()
            .map_or(DEFAULT_IDLE_MINUTES.into(), |r| r.idle_minutes.into()),
        changed_at: row.map(|r| r.changed_at),
    })
}

pub async fn bot_settings(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Read<BotSettings>>, ApiError> {
    visible(&admin, &website_id)?;
    read(bot_settings_of(&state, &website_id).await?, as_of)
}

/// Sets the bot settings; a field left out keeps its current value.
pub async fn set_bot_settings(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    Body(setting): Body<BotSettingsSetting>,
) -> Result<Action<BotSettings>, ApiError> {
    visible(&admin, &website_id)?;
    let now = bot_settings_of(&state, &website_id).await?;
    let payload = WebsiteBotSettings {
        website_id: website_id.clone(),
        low_confidence: setting.low_confidence.unwrap_or(now.low_confidence),
        idle_minutes: setting
            .idle_minutes
            .unwrap_or_else(|| u32::try_from(now.idle_minutes).unwrap_or(DEFAULT_IDLE_MINUTES)),
    };
    let asked = BotSettings {
        website_id: website_id.clone(),
        low_confidence: payload.low_confidence,
        idle_minutes: payload.idle_minutes.into(),
        changed_at: None,
    };
    let payload = Payload::WebsiteBotSettingsChanged(payload);
    payload.validate().map_err(bad_request)?;
    set(&state, &admin, &website_id, payload, asked, || {
        bot_settings_of(&state, &website_id)
    })
    .await
}

/// What `PUT /v1/websites/{id}/lead_keywords` sets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadKeywordsSetting {
    /// Words or phrases of a question about prices or plans; left out, the current list stays.
    #[schemars(length(max = MAX_LEAD_KEYWORDS))]
    pricing: Option<Vec<String>>,
    /// Words or phrases of a request for a demo or a trial; left out, the current list stays.
    #[schemars(length(max = MAX_LEAD_KEYWORDS))]
    demo: Option<Vec<String>>,
}

/// The words that reveal a lead's intent in what visitors write: the defaults (in English,
/// French, German, Spanish, Portuguese, Italian and Dutch) until an admin sets them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LeadKeywords {
    pub website_id: String,
    /// A visitor message with one of these, as whole words in any case, is a question about
    /// pricing or plans.
    pub pricing: Vec<String>,
    /// One with one of these asks for a demo or a trial.
    pub demo: Vec<String>,
    /// When an admin last set them; null while the defaults apply.
    pub changed_at: Option<DateTime<Utc>>,
}

async fn lead_keywords_of(state: &AppState, website_id: &str) -> Result<LeadKeywords, ApiError> {
    let row = store::lead_keywords(&state.pool, website_id).await?;
    let defaults = |list: &[&str]| list.iter().map(|k| (*k).to_owned()).collect();
    Ok(match row {
        Some(r) => LeadKeywords {
            website_id: website_id.to_owned(),
            pricing: r.pricing,
            demo: r.demo,
            changed_at: Some(r.changed_at),
        },
        None => LeadKeywords {
            website_id: website_id.to_owned(),
            pricing: defaults(DEFAULT_PRICING_KEYWORDS),
            demo: defaults(DEFAULT_DEMO_KEYWORDS),
            changed_at: None,
        },
    })
}

pub async fn lead_keywords(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    as_of: AsOf,
) -> Result<Json<Read<LeadKeywords>>, ApiError> {
    visible(&admin, &website_id)?;
    read(lead_keywords_of(&state, &website_id).await?, as_of)
}

/// Sets the lead keywords; a list left out keeps its current words.
pub async fn set_lead_keywords(
    admin: Admin,
    State(state): State<AppState>,
    Path(website_id): Path<String>,
    Body(setting): Body<LeadKeywordsSetting>,
) -> Result<Action<LeadKeywords>, ApiError> {
    visible(&admin, &website_id)?;
    let now = lead_keywords_of(&state, &website_id).await?;
    let trimmed = |list: Vec<String>| list.into_iter().map(|k| k.trim().to_owned()).collect();
    let payload = WebsiteLeadKeywords {
        website_id: website_id.clone(),
        pricing: trimmed(setting.pricing.unwrap_or(now.pricing)),
        demo: trimmed(setting.demo.unwrap_or(now.demo)),
    };
    let asked = LeadKeywords {
        website_id: website_id.clone(),
        pricing: payload.pricing.clone(),
        demo: payload.demo.clone(),
        changed_at: None,
    };
    let payload = Payload::WebsiteLeadKeywordsChanged(payload);
    payload.validate().map_err(bad_request)?;
    set(&state, &admin, &website_id, payload, asked, || {
        lead_keywords_of(&state, &website_id)
    })
    .await
}

/// Sets one of a website's settings with `payload`: answers with the setting as read back once
/// the projector applied it, or as asked (`asked`) while it has not. `payload` is validated by
/// the caller, before any check that reads the database.
async fn set<T, F>(
    state: &AppState,
    admin: &Admin,
    website_id: &str,
    payload: Payload,
    asked: T,
    read: impl FnOnce() -> F,
) -> Result<Action<T>, ApiError>
where
    F: Future<Output = Result<T, ApiError>>,
{
    let event = actions::event(website_id, website_id, payload);
    let outcome = actions::submit(state, &admin.actor, event).await?;
    let now = match outcome {
        Outcome::Applied(_) => read().await?,
        Outcome::Pending(_) => asked,
    };
    Ok(acted(outcome, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn website_ids_are_readable_slugs() {
        assert_eq!(slug("Lumo Shop — Berlin!"), "lumo-shop-berlin");
        assert_eq!(slug("  ***  "), "");
    }
}
