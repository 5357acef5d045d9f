//! Admin events about websites: creation, tokens, privacy, reports, time zone, and the
//! retention job's cut-offs.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Validate;
use super::checks::{bounded, email, required, time_zone};
use super::limits;
use crate::error::FieldError;

/// An admin created a website; its write key works at ingest once this is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteCreated {
    pub website_id: String,
    pub name: String,
    pub write_key: String,
    /// Browser origins that may write; empty for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
}

impl Validate for WebsiteCreated {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        required("payload.name", &self.name, limits::NAME_CHARS)?;
        required("payload.write_key", &self.write_key, limits::ID_CHARS)
    }
}

/// An admin created an API token limited to some websites. The topic holds a digest of the
/// token, never the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    /// The token's digest (see `query-api`'s `auth::digest`).
    pub token_digest: String,
    /// The websites the token may see and act on.
    pub websites: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the token stops working; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the token may create tokens (for its own websites, never beyond its expiry).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub may_mint: bool,
}

impl Validate for TokenCreated {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.token_digest", &self.token_digest, limits::ID_CHARS)?;
        bounded("payload.name", self.name.as_deref(), limits::NAME_CHARS)?;
        if self.websites.is_empty() {
            return Err(FieldError::new("payload.websites", "must not be empty"));
        }
        for (i, website) in self.websites.iter().enumerate() {
            required(&format!("payload.websites[{i}]"), website, limits::ID_CHARS)?;
        }
        Ok(())
    }
}

/// An admin revoked an API token: it stops working once this is applied, whatever order the
/// token's creation and revocation are read in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    /// The revoked token's digest.
    pub token_digest: String,
}

impl Validate for TokenRevoked {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.token_digest", &self.token_digest, limits::ID_CHARS)
    }
}

/// An admin changed a website's privacy settings; the latest change wins. Ingest applies them
/// to the events it receives from then on, before they reach the topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsitePrivacy {
    pub website_id: String,
    /// Store IPv4 addresses with the last octet zeroed and IPv6 addresses cut to their /48.
    pub anonymize_ip: bool,
    /// Days raw IP addresses and message texts are kept; [`DEFAULT_RETENTION_DAYS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Months without activity after which a contact is due for review;
    /// [`DEFAULT_CONTACT_REVIEW_MONTHS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_review_months: Option<u32>,
    /// Whether ingest records the visitor's country (looked up from the address before it is
    /// anonymised) in `context.country`; true when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_country: Option<bool>,
}

/// How long raw IP addresses and message texts are kept when a website has not said.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// After how many inactive months a contact is due for review when a website has not said.
pub const DEFAULT_CONTACT_REVIEW_MONTHS: u32 = 12;

impl Validate for WebsitePrivacy {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        if self.retention_days == Some(0) {
            return Err(FieldError::new(
                "payload.retention_days",
                "must be at least 1",
            ));
        }
        if self.contact_review_months == Some(0) {
            return Err(FieldError::new(
                "payload.contact_review_months",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// An admin changed who receives a website's weekly report, and when; the latest change wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteReports {
    pub website_id: String,
    /// The addresses the report goes to; none turns the report off.
    pub recipients: Vec<String>,
    /// The IANA time zone the schedule is in ([`DEFAULT_REPORT_TIME_ZONE`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// ISO day of the week the report is sent on, 1 (Monday) to 7 ([`DEFAULT_REPORT_WEEKDAY`]
    /// when absent); it covers the seven days before that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<u8>,
    /// Hour of that day, 0 to 23 ([`DEFAULT_REPORT_HOUR`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
}

pub const DEFAULT_REPORT_TIME_ZONE: &str = "UTC";
pub const DEFAULT_REPORT_WEEKDAY: u8 = 1;
pub const DEFAULT_REPORT_HOUR: u8 = 8;
/// Most recipients one website's report goes to.
pub const MAX_REPORT_RECIPIENTS: usize = 20;

impl Validate for WebsiteReports {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        if self.recipients.len() > MAX_REPORT_RECIPIENTS {
            return Err(FieldError::new(
                "payload.recipients",
                format!("must hold at most {MAX_REPORT_RECIPIENTS} addresses"),
            ));
        }
        for (i, recipient) in self.recipients.iter().enumerate() {
            email(&format!("payload.recipients[{i}]"), Some(recipient))?;
        }
        if let Some(zone) = &self.time_zone {
            time_zone("payload.time_zone", zone)?;
        }
        if self.weekday.is_some_and(|d| !(1..=7).contains(&d)) {
            return Err(FieldError::new(
                "payload.weekday",
                "must be 1 (Monday) to 7 (Sunday)",
            ));
        }
        if self.hour.is_some_and(|h| h > 23) {
            return Err(FieldError::new("payload.hour", "must be 0 to 23"));
        }
        Ok(())
    }
}

/// An admin set the time zone a website's days are counted in (statistics, series, date
/// filters); the latest change wins. Websites that never set one count UTC days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteTimeZone {
    pub website_id: String,
    /// An IANA name, such as `America/Los_Angeles` or `Asia/Kolkata`.
    pub time_zone: String,
}

impl Validate for WebsiteTimeZone {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        time_zone("payload.time_zone", &self.time_zone)
    }
}

/// An admin set how a website's bot is judged; the latest change wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteBotSettings {
    pub website_id: String,
    /// A bot answer whose `confidence_score` is below this, 0 to 1, counts as unsure
    /// ([`DEFAULT_LOW_CONFIDENCE`] until set).
    pub low_confidence: f64,
    /// Minutes of silence after which an open conversation counts as over, 1 to
    /// [`MAX_IDLE_MINUTES`] ([`DEFAULT_IDLE_MINUTES`] until set).
    pub idle_minutes: u32,
}

pub const DEFAULT_LOW_CONFIDENCE: f64 = 0.5;
pub const DEFAULT_IDLE_MINUTES: u32 = 30;
/// A week.
pub const MAX_IDLE_MINUTES: u32 = 7 * 24 * 60;

impl Validate for WebsiteBotSettings {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        if !(0.0..=1.0).contains(&self.low_confidence) {
            return Err(FieldError::new("payload.low_confidence", "must be 0 to 1"));
        }
        if !(1..=MAX_IDLE_MINUTES).contains(&self.idle_minutes) {
            return Err(FieldError::new(
                "payload.idle_minutes",
                format!("must be 1 to {MAX_IDLE_MINUTES}"),
            ));
        }
        Ok(())
    }
}

/// An admin set the words that reveal a lead's intent in what visitors write, for the
/// website's lead scores; the latest change wins. Each list replaces the defaults
/// ([`DEFAULT_PRICING_KEYWORDS`], [`DEFAULT_DEMO_KEYWORDS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebsiteLeadKeywords {
    pub website_id: String,
    /// Words or phrases of a question about prices or plans, matched as whole words, in any
    /// case.
    #[schemars(length(max = MAX_LEAD_KEYWORDS))]
    pub pricing: Vec<String>,
    /// Words or phrases of a request for a demo or a trial.
    #[schemars(length(max = MAX_LEAD_KEYWORDS))]
    pub demo: Vec<String>,
}

pub const MAX_LEAD_KEYWORDS: usize = 200;
/// The longest keyword or phrase.
pub const LEAD_KEYWORD_CHARS: usize = 64;

/// Questions about prices or plans, in English, French, German, Spanish, Portuguese, Italian and
/// Dutch.
pub const DEFAULT_PRICING_KEYWORDS: &[&str] = &[
    "price",
    "prices",
    "pricing",
    "cost",
    "costs",
    "how much",
    "plan",
    "plans",
    "quote",
    "subscription",
    "fee",
    "fees",
    "prix",
    "tarif",
    "tarifs",
    "combien",
    "coût",
    "coûte",
    "abonnement",
    "devis",
    "forfait",
    "preis",
    "preise",
    "kosten",
    "kostet",
    "wie viel",
    "wieviel",
    "angebot",
    "precio",
    "precios",
    "cuánto",
    "cuesta",
    "coste",
    "costo",
    "tarifa",
    "suscripción",
    "presupuesto",
    "preço",
    "preços",
    "quanto custa",
    "custo",
    "plano",
    "assinatura",
    "orçamento",
    "prezzo",
    "prezzi",
    "quanto costa",
    "tariffa",
    "piano",
    "abbonamento",
    "preventivo",
    "prijs",
    "prijzen",
    "hoeveel",
    "tarief",
    "offerte",
];

/// Requests for a demo or a trial, in the same languages.
pub const DEFAULT_DEMO_KEYWORDS: &[&str] = &[
    "demo",
    "demonstration",
    "trial",
    "free trial",
    "try it",
    "test drive",
    "walkthrough",
    "démo",
    "démonstration",
    "essai",
    "essai gratuit",
    "vorführung",
    "testversion",
    "probeversion",
    "ausprobieren",
    "demostración",
    "prueba",
    "prueba gratuita",
    "demonstração",
    "teste grátis",
    "avaliação",
    "dimostrazione",
    "prova gratuita",
    "demonstratie",
    "proefversie",
    "uitproberen",
];

impl WebsiteLeadKeywords {
    /// The Postgres regular expression (for `~*`) that finds `keyword` as whole words: every
    /// character but letters, digits and spaces is escaped, so a keyword is always literal.
    pub fn pattern(keyword: &str) -> String {
        let mut out = String::from("\\m");
        for c in keyword.trim().chars() {
            if !(c.is_alphanumeric() || c == ' ') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\\M");
        out
    }
}

impl Validate for WebsiteLeadKeywords {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        for (field, list) in [
            ("payload.pricing", &self.pricing),
            ("payload.demo", &self.demo),
        ] {
            if list.len() > MAX_LEAD_KEYWORDS {
                return Err(FieldError::new(
                    field,
                    format!("at most {MAX_LEAD_KEYWORDS} keywords"),
                ));
            }
            for keyword in list {
                required(field, keyword.trim(), LEAD_KEYWORD_CHARS)?;
            }
        }
        Ok(())
    }
}

/// The retention job's decision for a website: raw IP addresses and message texts from before
/// `before` are no longer kept. Cut-offs only move forward; the latest applies to data that
/// arrives later too, so replaying the topic in any order reaches the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionApplied {
    pub website_id: String,
    pub before: DateTime<Utc>,
}

impl Validate for RetentionApplied {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.website_id", &self.website_id, limits::ID_CHARS)
    }
}
