//! The independent reference the statistics are held to: a plain fold over the generated events,
//! written from the definitions in `docs/statistics.md` and sharing no code with query-api or
//! the projector. Time zones come from the rules as published for 2026, not from a zone
//! database, so the days are placed without Postgres.
//!
//! Over 500 lines: the zones' rules, one conversation's fold (its facts: responses, handoff,
//! resolution, reopens), and the figures of a set of conversations, which must stay together to
//! be read against the glossary.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use schemas::{Event, Payload, Sender};

/// The zones the test uses, with their rules: a standard offset and, for zones with daylight
/// saving time, the North American rule (second Sunday of March to first Sunday of November,
/// switching at 02:00 local time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    LosAngeles,
    Kolkata,
    StJohns,
    Kathmandu,
}

impl Zone {
    pub const ALL: [Zone; 5] = [
        Zone::Utc,
        Zone::LosAngeles,
        Zone::Kolkata,
        Zone::StJohns,
        Zone::Kathmandu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Zone::Utc => "UTC",
            Zone::LosAngeles => "America/Los_Angeles",
            Zone::Kolkata => "Asia/Kolkata",
            Zone::StJohns => "America/St_Johns",
            Zone::Kathmandu => "Asia/Kathmandu",
        }
    }

    /// Standard offset from UTC in minutes, and whether the zone keeps summer time.
    fn rule(self) -> (i64, bool) {
        match self {
            Zone::Utc => (0, false),
            Zone::LosAngeles => (-8 * 60, true),
            Zone::Kolkata => (5 * 60 + 30, false),
            Zone::StJohns => (-(3 * 60 + 30), true),
            Zone::Kathmandu => (5 * 60 + 45, false),
        }
    }

    /// The offset in force at `at`, in minutes.
    pub fn offset(self, at: DateTime<Utc>) -> i64 {
        let (standard, dst) = self.rule();
        if !dst {
            return standard;
        }
        let year = at.year();
        // 02:00 local standard time on the second Sunday of March; 02:00 local summer time on
        // the first Sunday of November.
        let starts = local_instant(nth_sunday(year, 3, 2), standard);
        let ends = local_instant(nth_sunday(year, 11, 1), standard + 60);
        if at >= starts && at < ends {
            standard + 60
        } else {
            standard
        }
    }

    /// The local calendar day of `at`.
    pub fn day(self, at: DateTime<Utc>) -> NaiveDate {
        (at + Duration::minutes(self.offset(at))).date_naive()
    }

    /// The instant local midnight of `day` begins (no zone here switches at midnight).
    pub fn midnight(self, day: NaiveDate) -> DateTime<Utc> {
        let guess = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
        guess - Duration::minutes(self.offset(guess - Duration::minutes(self.rule().0)))
    }
}

fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8).unwrap()
}

/// 02:00 local on `day` at `offset` minutes from UTC.
fn local_instant(day: NaiveDate, offset: i64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(2, 0, 0).unwrap()) - Duration::minutes(offset)
}

/// One conversation as the definitions see it.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub website: String,
    pub id: String,
    pub first_seen: Option<DateTime<Utc>>,
    pub loaded: bool,
    pub engaged: bool,
    pub cta_clicks: i64,
    pub contact: bool,
    /// The latest rating by (time, event id).
    pub rating: Option<(DateTime<Utc>, uuid::Uuid, i64)>,
    pub user_messages: i64,
    pub bot_messages: i64,
    pub agent_messages: i64,
    pub bot_response_ms_sum: i64,
    pub bot_responses: i64,
    /// The earliest event by (time, event id): where the conversation started.
    pub origin: Option<(DateTime<Utc>, uuid::Uuid)>,
    pub channel: String,
    pub device: Option<String>,
    pub page: Option<String>,
    pub visitor: Option<String>,
    /// The customer id of the earliest event that carried one.
    pub customer: Option<(DateTime<Utc>, uuid::Uuid, String)>,
    /// Every message: when, its event id, who wrote it, whether it asked for a human.
    pub messages: Vec<(DateTime<Utc>, uuid::Uuid, Sender, bool)>,
    /// Every close, by (time, event id).
    pub closes: Vec<(DateTime<Utc>, uuid::Uuid)>,
    /// Admins' flags on the conversation's messages: (message event id, time, replied).
    pub flags: Vec<(String, DateTime<Utc>, bool)>,
    /// The latest visitor-side event.
    pub last_activity: Option<DateTime<Utc>>,
}

/// Milliseconds from `a` to `b`.
fn millis(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_milliseconds()
}

impl Conversation {
    fn first_after(&self, sender: Sender, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.messages
            .iter()
            .filter(|m| m.2 == sender && m.0 >= at)
            .map(|m| m.0)
            .min()
    }

    fn visitor_messages(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.messages
            .iter()
            .filter(|m| m.2 == Sender::User)
            .map(|m| m.0)
    }

    /// From the visitor's first message to `sender`'s first message at or after it.
    pub fn first_response(&self, sender: Sender) -> Option<i64> {
        let first = self.visitor_messages().min()?;
        Some(millis(first, self.first_after(sender, first)?))
    }

    /// The flags that name one of this conversation's messages.
    fn flags_on_messages(&self) -> impl Iterator<Item = &(String, DateTime<Utc>, bool)> + '_ {
        self.flags
            .iter()
            .filter(|f| self.messages.iter().any(|m| m.1.to_string() == f.0))
    }

    /// The first request for a human: a message that asked, or an admin's flag.
    pub fn handoff(&self) -> Option<DateTime<Utc>> {
        let asked = self.messages.iter().filter(|m| m.3).map(|m| m.0);
        let flagged = self.flags_on_messages().filter(|f| !f.2).map(|f| f.1);
        asked.chain(flagged).min()
    }

    /// From the handoff to the first human reply at or after it.
    pub fn handoff_response(&self) -> Option<i64> {
        let handoff = self.handoff()?;
        let agents = self
            .messages
            .iter()
            .filter(|m| m.2 == Sender::Agent)
            .map(|m| m.0);
        let replied = self.flags_on_messages().filter(|f| f.2).map(|f| f.1);
        let first = agents.chain(replied).filter(|t| *t >= handoff).min()?;
        Some(millis(handoff, first))
    }

    /// Closed now: its latest close came at or after its last message.
    pub fn closed_now(&self) -> bool {
        let Some(close) = self.closes.iter().max() else {
            return false;
        };
        self.messages.iter().all(|m| m.0 <= close.0)
    }

    /// From the first event to the latest close, while closed.
    pub fn resolution(&self) -> Option<i64> {
        let close = self.closes.iter().max()?;
        self.closed_now()
            .then(|| millis(self.first_seen.unwrap(), close.0))
    }

    /// Closes after which the visitor wrote before the next close.
    pub fn reopens(&self) -> usize {
        let mut closes = self.closes.clone();
        closes.sort();
        (0..closes.len())
            .filter(|&i| {
                let next = closes.get(i + 1).map(|c| c.0);
                self.visitor_messages()
                    .any(|t| t > closes[i].0 && next.is_none_or(|n| t <= n))
            })
            .count()
    }

    /// The visitor's last message has no bot or agent message at or after it.
    pub fn unanswered(&self) -> bool {
        let Some(last) = self.visitor_messages().max() else {
            return false;
        };
        !self
            .messages
            .iter()
            .any(|m| m.2 != Sender::User && m.0 >= last)
    }

    /// Over: closed now, or silent for the default idle minutes (30) by `now`.
    pub fn over(&self, now: DateTime<Utc>) -> bool {
        self.closed_now() || self.last_activity.unwrap() < now - Duration::minutes(30)
    }
}

/// The `fraction` percentile of `values`, interpolated between the two nearest ranks as
/// Postgres' `percentile_cont` defines it.
pub fn percentile(mut values: Vec<f64>, fraction: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = fraction * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(values[low] + (values[high] - values[low]) * (rank - low as f64))
}

/// Every conversation of `events`, folded by the definitions.
pub fn conversations(events: &[Event]) -> BTreeMap<(String, String), Conversation> {
    let mut out: BTreeMap<(String, String), Conversation> = BTreeMap::new();
    for e in events {
        let flag = match &e.payload {
            Payload::WebsiteTimeZoneChanged(_) => continue,
            Payload::MessageFlaggedForHuman(r) => Some((r.message_id.clone(), false)),
            Payload::MessageHumanReplied(r) => Some((r.message_id.clone(), true)),
            _ => None,
        };
        let c = out
            .entry((e.website_id.clone(), e.conversation_id.clone()))
            .or_insert_with(|| Conversation {
                website: e.website_id.clone(),
                id: e.conversation_id.clone(),
                ..Conversation::default()
            });
        let at = e.occurred_at;
        // Admins' flags belong to a message, and do not place the conversation in time.
        if let Some((message, replied)) = flag {
            c.flags.push((message, at, replied));
            continue;
        }
        c.last_activity = Some(c.last_activity.map_or(at, |l| l.max(at)));
        match c.first_seen {
            Some(f) if f < at => {}
            Some(f) if f == at && c.channel <= e.context.channel => {}
            _ => c.channel = e.context.channel.clone(),
        }
        c.first_seen = Some(c.first_seen.map_or(at, |f| f.min(at)));
        if c.origin.is_none_or(|o| (at, e.event_id) < o) {
            c.origin = Some((at, e.event_id));
            c.device = e.context.device.clone();
            c.visitor = e.context.visitor.clone();
            c.page = match &e.payload {
                Payload::WidgetLoaded(w) => w.page_url.clone(),
                _ => e.context.page_url.clone(),
            };
        }
        match &e.payload {
            Payload::WidgetLoaded(w) => {
                c.loaded = true;
                if let Some(id) = &w.customer_id
                    && c.customer
                        .as_ref()
                        .is_none_or(|k| (at, e.event_id) < (k.0, k.1))
                {
                    c.customer = Some((at, e.event_id, id.clone()));
                }
            }
            Payload::ConversationStarted(_) => c.engaged = true,
            Payload::MessageSent(m) => {
                c.messages
                    .push((at, e.event_id, m.sender.kind, m.requires_human));
                match m.sender.kind {
                    Sender::User => {
                        c.engaged = true;
                        c.user_messages += 1;
                    }
                    Sender::Bot => {
                        c.bot_messages += 1;
                        if let Some(ms) = m.response_time_ms {
                            c.bot_response_ms_sum += ms as i64;
                            c.bot_responses += 1;
                        }
                    }
                    Sender::Agent => c.agent_messages += 1,
                }
            }
            Payload::CtaClicked(_) => c.cta_clicks += 1,
            Payload::ConversationClosed(_) => c.closes.push((at, e.event_id)),
            Payload::ContactSubmitted(_) => c.contact = true,
            // The latest rating by (time, event id) is the conversation's.
            Payload::ConversationRated(r)
                if c.rating.is_none_or(|k| (at, e.event_id) > (k.0, k.1)) =>
            {
                c.rating = Some((at, e.event_id, i64::from(r.rating)));
            }
            _ => {}
        }
    }
    out
}

/// The service counts, as `GET /v1/stats` names them.
pub const SERVICE_COUNTS: [&str; 15] = [
    "bot_answered_conversations",
    "agent_answered_conversations",
    "handoff_answered_conversations",
    "waiting_for_human",
    "contained_conversations",
    "abandoned_conversations",
    "closed_conversations",
    "reopened_conversations",
    "resolved_conversations",
    "satisfied_ratings",
    RATINGS[0],
    RATINGS[1],
    RATINGS[2],
    RATINGS[3],
    RATINGS[4],
];

/// The rated conversations by rating, 1 to 5.
const RATINGS: [&str; 5] = [
    "rating_distribution.1",
    "rating_distribution.2",
    "rating_distribution.3",
    "rating_distribution.4",
    "rating_distribution.5",
];

/// Each percentile: its name, the values it is taken over, the fraction.
const PERCENTILES: [(&str, &str, f64); 11] = [
    ("median_bot_first_response_ms", "bot_first_response_ms", 0.5),
    ("p90_bot_first_response_ms", "bot_first_response_ms", 0.9),
    (
        "median_agent_first_response_ms",
        "agent_first_response_ms",
        0.5,
    ),
    (
        "p90_agent_first_response_ms",
        "agent_first_response_ms",
        0.9,
    ),
    ("median_handoff_response_ms", "handoff_response_ms", 0.5),
    ("p90_handoff_response_ms", "handoff_response_ms", 0.9),
    ("median_resolution_ms", "resolution_ms", 0.5),
    ("p90_resolution_ms", "resolution_ms", 0.9),
    (
        "median_messages_per_conversation",
        "messages_per_conversation",
        0.5,
    ),
    (
        "p90_messages_per_conversation",
        "messages_per_conversation",
        0.9,
    ),
    ("median_duration_ms", "duration_ms", 0.5),
];

/// The service rates and percentiles, which the breakdown's rows carry too.
pub const SERVICE_RATES: [&str; 15] = [
    "containment_rate",
    "abandonment_rate",
    "reopen_rate",
    "csat",
    PERCENTILES[0].0,
    PERCENTILES[1].0,
    PERCENTILES[2].0,
    PERCENTILES[3].0,
    PERCENTILES[4].0,
    PERCENTILES[5].0,
    PERCENTILES[6].0,
    PERCENTILES[7].0,
    PERCENTILES[8].0,
    PERCENTILES[9].0,
    PERCENTILES[10].0,
];

/// The figures of one set of conversations, as `GET /v1/stats` names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub counts: BTreeMap<&'static str, i64>,
    pub rates: BTreeMap<&'static str, Option<f64>>,
}

impl Figures {
    pub fn of<'a>(conversations: impl IntoIterator<Item = &'a Conversation>) -> Self {
        let mut n: BTreeMap<&'static str, i64> = BTreeMap::new();
        let mut visitors = BTreeSet::new();
        let (mut engaged_messages, mut ratings_sum, mut ms, mut responses) = (0, 0, 0, 0);
        for name in [
            "conversations",
            "widget_loads",
            "engaged_conversations",
            "loaded_engaged_conversations",
            "engaged_without_load",
            "cta_conversations",
            "contact_requests",
            "escalated_conversations",
            "ratings",
            "messages",
            "user_messages",
            "bot_messages",
            "agent_messages",
            "cta_clicks",
            "unique_visitors",
        ]
        .into_iter()
        .chain(SERVICE_COUNTS)
        {
            n.insert(name, 0);
        }
        let now = Utc::now();
        let mut values: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        let mut value = |name: &'static str, v: Option<i64>| {
            if let Some(v) = v {
                values.entry(name).or_default().push(v as f64);
            }
        };
        let mut add = |name: &'static str, yes: bool| {
            if yes {
                *n.get_mut(name).unwrap() += 1;
            }
        };
        let mut sums: BTreeMap<&'static str, i64> = BTreeMap::new();
        for c in conversations {
            add("conversations", true);
            add("widget_loads", c.loaded);
            add("engaged_conversations", c.engaged);
            add("loaded_engaged_conversations", c.loaded && c.engaged);
            add("engaged_without_load", c.engaged && !c.loaded);
            add("cta_conversations", c.engaged && c.cta_clicks > 0);
            add("contact_requests", c.engaged && c.contact);
            // Handed to a human: a message asked, or an admin flagged one of its messages.
            add(
                "escalated_conversations",
                c.engaged && c.handoff().is_some(),
            );
            add("ratings", c.rating.is_some());
            let rating = c.rating.map(|r| r.2);
            add("satisfied_ratings", rating.is_some_and(|r| r >= 4));
            for (name, r) in RATINGS.iter().zip(1..) {
                add(name, rating == Some(r));
            }
            if c.engaged {
                let handoff = c.handoff();
                let bot = c.first_response(Sender::Bot);
                let agent = c.first_response(Sender::Agent);
                let handoff_response = c.handoff_response();
                add("bot_answered_conversations", bot.is_some());
                add("agent_answered_conversations", agent.is_some());
                add("handoff_answered_conversations", handoff_response.is_some());
                add(
                    "waiting_for_human",
                    handoff.is_some() && handoff_response.is_none(),
                );
                let settled = handoff.is_none() && c.over(now);
                add("contained_conversations", settled && !c.unanswered());
                add("abandoned_conversations", settled && c.unanswered());
                add("closed_conversations", !c.closes.is_empty());
                add("reopened_conversations", c.reopens() > 0);
                add("resolved_conversations", c.closed_now());
                value("bot_first_response_ms", bot);
                value("agent_first_response_ms", agent);
                value("handoff_response_ms", handoff_response);
                value("resolution_ms", c.resolution());
                value("messages_per_conversation", Some(c.messages.len() as i64));
                value(
                    "duration_ms",
                    Some(millis(c.first_seen.unwrap(), c.last_activity.unwrap())),
                );
            }
            let messages = c.user_messages + c.bot_messages + c.agent_messages;
            *sums.entry("messages").or_default() += messages;
            *sums.entry("user_messages").or_default() += c.user_messages;
            *sums.entry("bot_messages").or_default() += c.bot_messages;
            *sums.entry("agent_messages").or_default() += c.agent_messages;
            *sums.entry("cta_clicks").or_default() += c.cta_clicks;
            if c.engaged {
                engaged_messages += messages;
            }
            if let Some((_, _, r)) = c.rating {
                ratings_sum += r;
            }
            ms += c.bot_response_ms_sum;
            responses += c.bot_responses;
            let who = match (&c.visitor, &c.customer) {
                (Some(v), _) => format!("v:{v}"),
                (None, Some((_, _, id))) => format!("c:{id}"),
                (None, None) => format!("k:{}", c.id),
            };
            visitors.insert((c.website.clone(), who));
        }
        for (name, sum) in sums {
            n.insert(name, sum);
        }
        n.insert("unique_visitors", visitors.len() as i64);
        let share = |a: i64, b: i64| (b != 0).then(|| a as f64 / b as f64);
        let engaged = n["engaged_conversations"];
        let rates = BTreeMap::from([
            (
                "interaction_rate",
                share(n["loaded_engaged_conversations"], n["widget_loads"]),
            ),
            ("cta_rate", share(n["cta_conversations"], engaged)),
            ("conversion_rate", share(n["contact_requests"], engaged)),
            (
                "escalation_rate",
                share(n["escalated_conversations"], engaged),
            ),
            (
                "avg_messages_per_conversation",
                share(engaged_messages, engaged),
            ),
            ("avg_bot_response_ms", share(ms, responses)),
            ("avg_rating", share(ratings_sum, n["ratings"])),
            (
                "containment_rate",
                share(n["contained_conversations"], engaged),
            ),
            (
                "abandonment_rate",
                share(n["abandoned_conversations"], engaged),
            ),
            (
                "reopen_rate",
                share(n["reopened_conversations"], n["closed_conversations"]),
            ),
            ("csat", share(n["satisfied_ratings"], n["ratings"])),
        ]);
        let mut rates = rates;
        for (name, values_of, fraction) in PERCENTILES {
            let v = values.get(values_of).cloned().unwrap_or_default();
            rates.insert(name, percentile(v, fraction));
        }
        Self { counts: n, rates }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_rules_place_the_2026_switches_where_they_are_published() {
        let la = Zone::LosAngeles;
        assert_eq!(la.offset(utc("2026-03-08T09:59:59Z")), -480);
        assert_eq!(la.offset(utc("2026-03-08T10:00:00Z")), -420);
        assert_eq!(la.offset(utc("2026-11-01T08:59:59Z")), -420);
        assert_eq!(la.offset(utc("2026-11-01T09:00:00Z")), -480);
        let nl = Zone::StJohns;
        assert_eq!(nl.offset(utc("2026-03-08T05:29:59Z")), -210);
        assert_eq!(nl.offset(utc("2026-03-08T05:30:00Z")), -150);
        assert_eq!(Zone::Kolkata.day(utc("2026-03-07T18:29:59Z")).day(), 7);
        assert_eq!(Zone::Kolkata.day(utc("2026-03-07T18:30:00Z")).day(), 8);
        assert_eq!(Zone::Kathmandu.day(utc("2026-03-07T18:15:00Z")).day(), 8);
    }

    #[test]
    fn a_dst_day_has_23_or_25_hours() {
        let la = Zone::LosAngeles;
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!((la.midnight(day(9)) - la.midnight(day(8))).num_hours(), 23);
        let nov = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!((la.midnight(nov(2)) - la.midnight(nov(1))).num_hours(), 25);
        assert_eq!(la.midnight(day(8)), utc("2026-03-08T08:00:00Z"));
    }
}
