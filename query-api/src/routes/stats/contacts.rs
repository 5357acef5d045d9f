//! `GET /v1/stats/contacts`: the contact insights of a range of the website's days, and of the
//! period before it; each count opens as the contacts (or conversations) it counts.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::Serialize;

use super::answers::ratio;
use super::{BreakdownParams, Change, Scope, change};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::freshness::AsOf;
use crate::routes::params::{Days, Params};
use crate::store::contact_stats::{self as store, ContactCounts, ConversationCounts};
use crate::store::contacts::ContactPopulation;
use crate::store::populations::Population;

/// The contact figures of one range (docs/statistics.md defines each).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ContactFigures {
    /// Contacts first seen on or before the range's last day (erased ones are in no figure).
    pub total_contacts: i64,
    /// Contacts first seen in the range.
    pub new_contacts: i64,
    /// Contacts with a conversation started in the range.
    pub active_contacts: i64,
    /// Active contacts with a conversation started in the range that is still open.
    pub contacts_in_open_conversations: i64,
    /// Contacts of the total with a contact request still pending.
    pub awaiting_follow_up: i64,
    /// Active contacts with more than one conversation.
    pub repeat_contacts: i64,
    /// `repeat_contacts / active_contacts`.
    pub repeat_visitor_rate: Option<f64>,
    /// The active contacts' conversations (all of them, not only the range's) per active
    /// contact.
    pub avg_conversations_per_contact: Option<f64>,
    /// Engaged conversations started in the range.
    pub engaged_conversations: i64,
    /// Those that left contact details.
    pub contact_conversations: i64,
    /// `contact_conversations / engaged_conversations`.
    pub conversion_rate: Option<f64>,
    /// Conversations of contacts started in the range that the bot answered.
    pub contact_conversations_bot_answered: i64,
    /// Their mean time from the visitor's first message to the bot's first answer.
    pub avg_bot_first_response_ms: Option<f64>,
    /// Conversations of contacts started in the range that an agent answered.
    pub contact_conversations_agent_answered: i64,
    /// Their mean time from the visitor's first message to an agent's first answer.
    pub avg_agent_first_response_ms: Option<f64>,
}

impl ContactFigures {
    fn new(c: &ContactCounts, v: &ConversationCounts) -> Self {
        Self {
            total_contacts: c.total,
            new_contacts: c.new,
            active_contacts: c.active,
            contacts_in_open_conversations: c.in_open_conversation,
            awaiting_follow_up: c.awaiting_follow_up,
            repeat_contacts: c.repeat,
            repeat_visitor_rate: ratio(c.repeat, c.active),
            avg_conversations_per_contact: (c.active > 0)
                .then(|| c.active_conversations as f64 / c.active as f64),
            engaged_conversations: v.engaged,
            contact_conversations: v.contact_submitted,
            conversion_rate: ratio(v.contact_submitted, v.engaged),
            contact_conversations_bot_answered: v.bot_answered,
            avg_bot_first_response_ms: v.bot_first_response_ms,
            contact_conversations_agent_answered: v.agent_answered,
            avg_agent_first_response_ms: v.agent_first_response_ms,
        }
    }
}

/// The contacts of the total who came through one channel.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ChannelShare {
    pub channel: String,
    pub contacts: i64,
    /// `contacts / total_contacts`.
    pub share: Option<f64>,
    /// The `GET /v1/contacts` path listing them.
    pub open: String,
}

/// One range's contact figures with the list each count opens as.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ContactPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub figures: ContactFigures,
    pub by_channel: Vec<ChannelShare>,
    /// For each count, the `GET /v1/contacts` (or `GET /v1/conversations`) path listing what
    /// it counts; their `total` equals it. An average or a rate is taken over the counts its
    /// definition names.
    pub open: BTreeMap<String, String>,
}

/// `GET /v1/stats/contacts`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ContactInsights {
    pub current: ContactPeriod,
    /// The same number of days just before.
    pub previous: ContactPeriod,
    /// Each figure's relative change from the previous period; null when it was 0.
    pub change: Change,
    pub time_zone: Option<String>,
    pub as_of: AsOf,
}

/// Which figure each contact population gives.
const CONTACT_FIGURES: [(&str, ContactPopulation); 6] = [
    ("total_contacts", ContactPopulation::Total),
    ("new_contacts", ContactPopulation::New),
    ("active_contacts", ContactPopulation::Active),
    (
        "contacts_in_open_conversations",
        ContactPopulation::InOpenConversation,
    ),
    ("awaiting_follow_up", ContactPopulation::AwaitingFollowUp),
    ("repeat_contacts", ContactPopulation::Repeat),
];

/// Which figure each conversation population (with `has_contact=true` where named) gives.
const CONVERSATION_FIGURES: [(&str, Population, bool); 4] = [
    ("engaged_conversations", Population::Engaged, false),
    ("contact_conversations", Population::ContactSubmitted, false),
    (
        "contact_conversations_bot_answered",
        Population::BotAnswered,
        true,
    ),
    (
        "contact_conversations_agent_answered",
        Population::AgentAnswered,
        true,
    ),
];

impl Scope {
    /// `GET /v1/contacts` listing `population` of `days`, plus `extra` parameters.
    fn open_contacts(
        &self,
        population: ContactPopulation,
        days: Days,
        extra: &[(&str, &str)],
    ) -> String {
        let mut query = vec![("population", population.name().to_owned())];
        query.extend(self.range_query(days));
        query.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        format!("/v1/contacts?{query}")
    }

    async fn contact_period(
        &self,
        state: &AppState,
        days: Days,
    ) -> Result<ContactPeriod, ApiError> {
        let scope = store::Scope {
            websites: self.websites.as_deref(),
            days: (days.from, days.to),
            zone: &self.zone,
        };
        let (contacts, conversations, channels) = tokio::try_join!(
            store::counts(&state.pool, &scope),
            store::conversations(&state.pool, &scope),
            store::by_channel(&state.pool, &scope),
        )?;
        let by_channel = channels
            .into_iter()
            .map(|row| ChannelShare {
                open: self.open_contacts(
                    ContactPopulation::Total,
                    days,
                    &[("channel", row.channel.as_str())],
                ),
                share: ratio(row.contacts, contacts.total),
                channel: row.channel,
                contacts: row.contacts,
            })
            .collect();
        let open = CONTACT_FIGURES
            .iter()
            .map(|(name, p)| ((*name).to_owned(), self.open_contacts(*p, days, &[])))
            .chain(CONVERSATION_FIGURES.iter().map(|(name, p, has_contact)| {
                let mut link = self.open(*p, days);
                if *has_contact {
                    link.push_str("&has_contact=true");
                }
                ((*name).to_owned(), link)
            }))
            .collect();
        Ok(ContactPeriod {
            from: days.from,
            to: days.to,
            figures: ContactFigures::new(&contacts, &conversations),
            by_channel,
            open,
        })
    }
}

/// `GET /v1/stats/contacts`: how many contacts there are, came, came back and wait for a
/// follow-up, by channel, and how their conversations went, for a range and the one before.
pub async fn contacts(
    admin: Admin,
    State(state): State<AppState>,
    as_of: AsOf,
    Params(params): Params<BreakdownParams>,
) -> Result<Json<ContactInsights>, ApiError> {
    let scope = Scope::resolve(&admin, &state.pool, &params).await?;
    let (current, previous) = tokio::try_join!(
        scope.contact_period(&state, scope.days),
        scope.contact_period(&state, scope.days.previous()),
    )?;
    Ok(Json(ContactInsights {
        change: change(&current.figures, &previous.figures),
        current,
        previous,
        time_zone: scope.time_zone.clone(),
        as_of,
    }))
}
