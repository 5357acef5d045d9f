//! What the statistics routes answer: the figures of a range, each defined once
//! ([`crate::store::populations`], the glossary in `docs/statistics.md`), and the shapes of
//! `GET /v1/stats`, `/v1/stats/funnel` and `/v1/stats/breakdown`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use crate::freshness::AsOf;
use crate::store::populations::Population;
use crate::store::service::Service;
use crate::store::stats::{Counts, ShareRow, Step};

/// `part / whole`; `None` when the whole is empty.
pub(super) fn ratio(part: i64, whole: i64) -> Option<f64> {
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
    /// Engaged conversations handed to a human: a message asked for one, or an admin flagged
    /// one.
    pub escalated_conversations: i64,
    /// `escalated_conversations / engaged_conversations`: the handoff rate.
    pub escalation_rate: Option<f64>,
    /// Conversations started in the range that were rated.
    pub ratings: i64,
    /// Mean rating (1–5) of the rated conversations.
    pub avg_rating: Option<f64>,
    #[serde(flatten)]
    pub service: ServiceFigures,
}

/// What support teams and bot owners judge a range by: response and resolution times,
/// handoffs, containment and satisfaction. Times are in milliseconds; a median or 90th
/// percentile is over the population named beside it, interpolated between the two nearest
/// values (Postgres' `percentile_cont`), and null when it is empty. The glossary is
/// `docs/statistics.md`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ServiceFigures {
    /// Engaged conversations in which the bot wrote after the visitor's first message.
    pub bot_answered_conversations: i64,
    /// From the visitor's first message to the bot's first message after it, over
    /// `bot_answered_conversations`.
    pub median_bot_first_response_ms: Option<f64>,
    pub p90_bot_first_response_ms: Option<f64>,
    /// Engaged conversations in which an agent wrote after the visitor's first message.
    pub agent_answered_conversations: i64,
    /// From the visitor's first message to an agent's first message after it, over
    /// `agent_answered_conversations`.
    pub median_agent_first_response_ms: Option<f64>,
    pub p90_agent_first_response_ms: Option<f64>,
    /// Escalated conversations in which a human replied after the handoff.
    pub handoff_answered_conversations: i64,
    /// From the handoff to the first human reply, over `handoff_answered_conversations`.
    pub median_handoff_response_ms: Option<f64>,
    pub p90_handoff_response_ms: Option<f64>,
    /// Escalated conversations no human has replied to since the handoff.
    pub waiting_for_human: i64,
    /// Engaged conversations that are over (closed, or silent for the website's idle minutes),
    /// never handed off, whose visitor's last message was answered.
    pub contained_conversations: i64,
    /// `contained_conversations / engaged_conversations`.
    pub containment_rate: Option<f64>,
    /// Engaged conversations that are over, never handed off, whose visitor's last message got
    /// no answer.
    pub abandoned_conversations: i64,
    /// `abandoned_conversations / engaged_conversations`.
    pub abandonment_rate: Option<f64>,
    /// Engaged conversations closed at least once.
    pub closed_conversations: i64,
    /// Engaged conversations in which the visitor wrote again after a close.
    pub reopened_conversations: i64,
    /// `reopened_conversations / closed_conversations`.
    pub reopen_rate: Option<f64>,
    /// Engaged conversations that are closed now.
    pub resolved_conversations: i64,
    /// From the conversation's first event to its latest close, over `resolved_conversations`.
    pub median_resolution_ms: Option<f64>,
    pub p90_resolution_ms: Option<f64>,
    /// Rated conversations whose latest rating is 4 or 5.
    pub satisfied_ratings: i64,
    /// `satisfied_ratings / ratings`: the share of rated conversations rated 4 or 5.
    pub csat: Option<f64>,
    /// Rated conversations by their latest rating.
    pub rating_distribution: RatingDistribution,
    /// Messages per engaged conversation.
    pub median_messages_per_conversation: Option<f64>,
    pub p90_messages_per_conversation: Option<f64>,
    /// From an engaged conversation's first event to its last.
    pub median_duration_ms: Option<f64>,
}

/// Rated conversations by their latest rating (each a part of `ratings`).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RatingDistribution {
    #[serde(rename = "1")]
    pub one: i64,
    #[serde(rename = "2")]
    pub two: i64,
    #[serde(rename = "3")]
    pub three: i64,
    #[serde(rename = "4")]
    pub four: i64,
    #[serde(rename = "5")]
    pub five: i64,
}

impl From<&Service> for ServiceFigures {
    fn from(s: &Service) -> Self {
        Self {
            bot_answered_conversations: s.bot_answered,
            median_bot_first_response_ms: s.median_bot_first_response_ms,
            p90_bot_first_response_ms: s.p90_bot_first_response_ms,
            agent_answered_conversations: s.agent_answered,
            median_agent_first_response_ms: s.median_agent_first_response_ms,
            p90_agent_first_response_ms: s.p90_agent_first_response_ms,
            handoff_answered_conversations: s.handoff_answered,
            median_handoff_response_ms: s.median_handoff_response_ms,
            p90_handoff_response_ms: s.p90_handoff_response_ms,
            waiting_for_human: s.waiting_for_human,
            contained_conversations: s.contained,
            containment_rate: ratio(s.contained, s.engaged),
            abandoned_conversations: s.abandoned,
            abandonment_rate: ratio(s.abandoned, s.engaged),
            closed_conversations: s.closed,
            reopened_conversations: s.reopened,
            reopen_rate: ratio(s.reopened, s.closed),
            resolved_conversations: s.resolved,
            median_resolution_ms: s.median_resolution_ms,
            p90_resolution_ms: s.p90_resolution_ms,
            satisfied_ratings: s.satisfied,
            csat: ratio(s.satisfied, s.rated),
            rating_distribution: RatingDistribution {
                one: s.rated_1,
                two: s.rated_2,
                three: s.rated_3,
                four: s.rated_4,
                five: s.rated_5,
            },
            median_messages_per_conversation: s.median_messages_per_conversation,
            p90_messages_per_conversation: s.p90_messages_per_conversation,
            median_duration_ms: s.median_duration_ms,
        }
    }
}

/// Which population each count of [`Figures`] is, for its drill-down.
pub const FIGURE_POPULATIONS: [(&str, Population); 19] = [
    ("conversations", Population::Started),
    ("widget_loads", Population::Loaded),
    ("engaged_conversations", Population::Engaged),
    ("loaded_engaged_conversations", Population::LoadedEngaged),
    ("engaged_without_load", Population::EngagedWithoutLoad),
    ("cta_conversations", Population::CtaClicked),
    ("contact_requests", Population::ContactSubmitted),
    ("escalated_conversations", Population::Escalated),
    ("ratings", Population::Rated),
    ("bot_answered_conversations", Population::BotAnswered),
    ("agent_answered_conversations", Population::AgentAnswered),
    (
        "handoff_answered_conversations",
        Population::HandoffAnswered,
    ),
    ("waiting_for_human", Population::WaitingForHuman),
    ("contained_conversations", Population::Contained),
    ("abandoned_conversations", Population::Abandoned),
    ("closed_conversations", Population::Closed),
    ("reopened_conversations", Population::Reopened),
    ("resolved_conversations", Population::Resolved),
    ("satisfied_ratings", Population::Satisfied),
];

impl Figures {
    pub fn new(c: &Counts, service: &Service) -> Self {
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
            service: ServiceFigures::from(service),
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
    /// (their `total` equals it); `rating_distribution.N` for the conversations rated N.
    pub open: BTreeMap<String, String>,
}

/// For each figure of `current` and `previous` that both have, its relative change:
/// `(current - previous) / previous`, null when `previous` is 0.
pub type Change = BTreeMap<String, Option<f64>>;

pub fn change(current: &impl Serialize, previous: &impl Serialize) -> Change {
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
    pub(super) fn new(step: Step, key: String, figures: T) -> Self {
        let (day, hour) = match step {
            Step::Day => (Some(key), None),
            Step::Hour => (None, Some(key)),
        };
        Self { day, hour, figures }
    }
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
            started: c.conversations,
            loaded: c.loaded_conversations,
            engaged: c.engaged_conversations,
            loaded_engaged: c.loaded_engaged_conversations,
            engaged_without_load: c.engaged_without_load,
            cta_clicked: c.cta_conversations,
            contact_submitted: c.contact_conversations,
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

/// One value of a dimension, with the list of its conversations.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Share {
    #[serde(flatten)]
    pub share: ShareRow,
    #[serde(flatten)]
    pub service: ServiceFigures,
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
    /// By the visitor's country (ISO 3166-1 alpha-2; `unknown` without one).
    pub by_country: Vec<Share>,
    /// By language: the declared one's language subtag, else the one detected in the
    /// visitor's messages (`unknown` without either).
    pub by_language: Vec<Share>,
    pub as_of: AsOf,
}
