//! Tenancy: the `websites` read model (`website.created`), the API tokens limited to some
//! of them (`token.created`), each website's privacy settings (`website.privacy_changed`) and
//! its weekly report's recipients and schedule (`website.reports_changed`) and the time zone of
//! its days (`website.time_zone_changed`).

use chrono::{DateTime, Utc};
use schemas::payloads::{
    DEFAULT_CONTACT_REVIEW_MONTHS, DEFAULT_REPORT_HOUR, DEFAULT_REPORT_TIME_ZONE,
    DEFAULT_REPORT_WEEKDAY, DEFAULT_RETENTION_DAYS,
};
use schemas::{Event, Payload};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct NewWebsite {
    pub website_id: String,
    pub name: String,
    pub write_key: String,
    pub allowed_origins: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl NewWebsite {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebsiteCreated(w) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: w.website_id.clone(),
            name: w.name.clone(),
            write_key: w.write_key.clone(),
            allowed_origins: w.allowed_origins.clone(),
            created_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A token limited to some websites, by digest.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub token_digest: String,
    pub websites: Vec<String>,
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub may_mint: bool,
    /// The token that created it ([`schemas::Context::actor`]).
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl NewToken {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::TokenCreated(t) = &event.payload else {
            return None;
        };
        Some(Self {
            token_digest: t.token_digest.clone(),
            websites: t.websites.clone(),
            name: t.name.clone(),
            expires_at: t.expires_at,
            may_mint: t.may_mint,
            created_by: event.context.actor.clone(),
            created_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A token's revocation.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRevocation {
    pub token_digest: String,
    pub revoked_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl TokenRevocation {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::TokenRevoked(t) = &event.payload else {
            return None;
        };
        Some(Self {
            token_digest: t.token_digest.clone(),
            revoked_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A website's privacy settings as of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyChange {
    pub website_id: String,
    pub anonymize_ip: bool,
    pub retention_days: i32,
    pub contact_review_months: i32,
    pub record_country: bool,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl PrivacyChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebsitePrivacyChanged(p) = &event.payload else {
            return None;
        };
        let days = p.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
        let months = p
            .contact_review_months
            .unwrap_or(DEFAULT_CONTACT_REVIEW_MONTHS);
        Some(Self {
            website_id: p.website_id.clone(),
            anonymize_ip: p.anonymize_ip,
            retention_days: i32::try_from(days).unwrap_or(i32::MAX),
            contact_review_months: i32::try_from(months).unwrap_or(i32::MAX),
            record_country: p.record_country.unwrap_or(true),
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A website's weekly report settings as of one change, the defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportsChange {
    pub website_id: String,
    pub recipients: Vec<String>,
    pub time_zone: String,
    pub weekday: i16,
    pub hour: i16,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl ReportsChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebsiteReportsChanged(r) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: r.website_id.clone(),
            recipients: r.recipients.clone(),
            time_zone: r
                .time_zone
                .clone()
                .unwrap_or_else(|| DEFAULT_REPORT_TIME_ZONE.to_owned()),
            weekday: r.weekday.unwrap_or(DEFAULT_REPORT_WEEKDAY).into(),
            hour: r.hour.unwrap_or(DEFAULT_REPORT_HOUR).into(),
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A website's time zone as of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeZoneChange {
    pub website_id: String,
    pub time_zone: String,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl TimeZoneChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebsiteTimeZoneChanged(z) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: z.website_id.clone(),
            time_zone: z.time_zone.clone(),
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A website's bot settings as of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct BotSettingsChange {
    pub website_id: String,
    pub low_confidence: f64,
    pub idle_minutes: i32,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl BotSettingsChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebsiteBotSettingsChanged(b) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: b.website_id.clone(),
            low_confidence: b.low_confidence,
            idle_minutes: i32::try_from(b.idle_minutes).unwrap_or(i32::MAX),
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A website's lead keywords as of one change, with their patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadKeywordsChange {
    pub website_id: String,
    pub pricing: Vec<String>,
    pub demo: Vec<String>,
    pub changed_at: DateTime<Utc>,
    pub event_id: Uuid,
}

impl LeadKeywordsChange {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::WebsiteLeadKeywordsChanged(k) = &event.payload else {
            return None;
        };
        let trimmed = |list: &[String]| list.iter().map(|k| k.trim().to_owned()).collect();
        Some(Self {
            website_id: k.website_id.clone(),
            pricing: trimmed(&k.pricing),
            demo: trimmed(&k.demo),
            changed_at: event.occurred_at,
            event_id: event.event_id,
        })
    }
}

/// A retention cut-off: `(website_id, before)`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionCutoff {
    pub website_id: String,
    pub before: DateTime<Utc>,
}

impl RetentionCutoff {
    pub fn from_event(event: &Event) -> Option<Self> {
        let Payload::RetentionApplied(r) = &event.payload else {
            return None;
        };
        Some(Self {
            website_id: r.website_id.clone(),
            before: r.before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::tests::{at, event};
    use schemas::payloads::WebsiteCreated;

    #[test]
    fn a_website_created_event_becomes_a_row_with_its_key() {
        let e = event(
            "shop",
            at(3),
            Payload::WebsiteCreated(WebsiteCreated {
                website_id: "shop".into(),
                name: "Shop".into(),
                write_key: "wk".into(),
                allowed_origins: vec![],
            }),
        );
        let row = NewWebsite::from_event(&e).unwrap();
        assert_eq!(
            (
                row.website_id.as_str(),
                row.write_key.as_str(),
                row.created_at
            ),
            ("shop", "wk", at(3))
        );
    }
}
