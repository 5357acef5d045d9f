//! The populations every statistic counts, each defined once: a name, the SQL predicate over a
//! `conversations c` row, and the words the API document, the docs and the dashboard use.
//!
//! A statistic of a range counts the conversations *started* in the range (their earliest
//! event falls on one of its days, in the website's time zone) that belong to a population,
//! and `GET /v1/conversations?population=…` lists exactly those rows with the same predicate,
//! so a figure and its drill-down cannot disagree. Every rate is a population divided by one
//! that contains it, so it lies in 0..1 whatever the traffic.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::{Postgres, QueryBuilder};

/// A set of conversations among those started in a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    Started,
    Loaded,
    Engaged,
    LoadedEngaged,
    EngagedWithoutLoad,
    CtaClicked,
    ContactSubmitted,
    Escalated,
    Rated,
}

impl Population {
    pub const ALL: [Population; 9] = [
        Population::Started,
        Population::Loaded,
        Population::Engaged,
        Population::LoadedEngaged,
        Population::EngagedWithoutLoad,
        Population::CtaClicked,
        Population::ContactSubmitted,
        Population::Escalated,
        Population::Rated,
    ];

    /// The value of `population=` that lists it.
    pub fn name(self) -> &'static str {
        match self {
            Population::Started => "started",
            Population::Loaded => "loaded",
            Population::Engaged => "engaged",
            Population::LoadedEngaged => "loaded_engaged",
            Population::EngagedWithoutLoad => "engaged_without_load",
            Population::CtaClicked => "cta_clicked",
            Population::ContactSubmitted => "contact_submitted",
            Population::Escalated => "escalated",
            Population::Rated => "rated",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Which rows of `conversations c` belong to it.
    pub fn predicate(self) -> &'static str {
        match self {
            Population::Started => "true",
            Population::Loaded => "c.widget_loaded_at IS NOT NULL",
            Population::Engaged => "c.engaged_at IS NOT NULL",
            Population::LoadedEngaged => {
                "c.widget_loaded_at IS NOT NULL AND c.engaged_at IS NOT NULL"
            }
            Population::EngagedWithoutLoad => {
                "c.engaged_at IS NOT NULL AND c.widget_loaded_at IS NULL"
            }
            Population::CtaClicked => "c.engaged_at IS NOT NULL AND c.cta_clicks > 0",
            Population::ContactSubmitted => "c.engaged_at IS NOT NULL AND c.contact_id IS NOT NULL",
            Population::Escalated => "c.engaged_at IS NOT NULL AND c.requires_human",
            Population::Rated => "c.rating IS NOT NULL",
        }
    }

    /// What it holds, in the words every document uses.
    pub fn definition(self) -> &'static str {
        match self {
            Population::Started => {
                "Conversations started in the range: their earliest event fell on one of its days"
            }
            Population::Loaded => "Conversations started in the range whose chat widget loaded",
            Population::Engaged => {
                "Conversations started in the range in which the visitor engaged (opened the chat or wrote)"
            }
            Population::LoadedEngaged => {
                "Conversations started in the range whose widget loaded and whose visitor engaged"
            }
            Population::EngagedWithoutLoad => {
                "Conversations started in the range in which the visitor engaged without a widget load (API clients, bridges)"
            }
            Population::CtaClicked => {
                "Engaged conversations started in the range in which a CTA was clicked"
            }
            Population::ContactSubmitted => {
                "Engaged conversations started in the range in which the visitor submitted contact details"
            }
            Population::Escalated => {
                "Engaged conversations started in the range in which a message asked for a human"
            }
            Population::Rated => "Conversations started in the range that were rated",
        }
    }
}

/// How a request's days are placed in time: in each website's own time zone (set with
/// `PUT /v1/websites/{id}/time_zone`, UTC until then), or in one zone the request names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone(pub Option<String>);

/// Joins each conversation to its website's time zone; every query that places conversations
/// on days reads `conversations c` through it.
pub const CONVERSATIONS_ZONED: &str =
    "conversations c LEFT JOIN website_time_zones z ON z.website_id = c.website_id";

/// Appends `(c.{column} AT TIME ZONE zone)`: the local wall-clock time of a conversation's
/// instant, for a query over [`CONVERSATIONS_ZONED`].
pub fn push_local(q: &mut QueryBuilder<'_, Postgres>, column: &str, zone: &Zone) {
    q.push(format!("(c.{column} AT TIME ZONE COALESCE("))
        .push_bind(zone.0.clone())
        .push("::text, z.time_zone, 'UTC'))");
}

/// Appends ` AND …` keeping the conversations whose first event fell on a day of
/// `[from, to]` in their zone. The instant bounds widened by the largest offsets from UTC
/// (−12 h to +14 h) let an index on `first_seen_at` find the candidates; the local day decides.
pub fn push_started(
    q: &mut QueryBuilder<'_, Postgres>,
    from: NaiveDate,
    to: NaiveDate,
    zone: &Zone,
) {
    let (lo, hi) = widened(from, to);
    q.push(" AND c.first_seen_at >= ").push_bind(lo);
    q.push(" AND c.first_seen_at < ").push_bind(hi);
    q.push(" AND ");
    push_local(q, "first_seen_at", zone);
    q.push("::date BETWEEN ").push_bind(from);
    q.push(" AND ").push_bind(to);
}

/// Every instant that is on a day of `[from, to]` in some time zone lies in the answer.
pub fn widened(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
    (
        midnight(from) - Duration::hours(15),
        midnight(to + Duration::days(1)) + Duration::hours(13),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_population_parses_back_from_its_name() {
        for p in Population::ALL {
            assert_eq!(Population::parse(p.name()), Some(p));
        }
        assert_eq!(Population::parse("everything"), None);
    }

    #[test]
    fn the_docs_give_every_population_in_the_same_words() {
        let docs = include_str!("../../../docs/statistics.md");
        for p in Population::ALL {
            let row = format!("| `{}` |", p.name());
            let line = docs.lines().find(|l| l.starts_with(&row));
            let line = line.unwrap_or_else(|| panic!("docs/statistics.md lacks {}", p.name()));
            assert!(line.ends_with(&format!("| {} |", p.definition())), "{line}");
        }
    }

    #[test]
    fn the_widened_bounds_hold_a_day_in_the_farthest_zones() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        let (lo, hi) = widened(day, day);
        // Midnight at UTC+14 (Pacific/Kiritimati) and the end of the day at UTC−12.
        let kiritimati = day.and_time(NaiveTime::MIN).and_utc() - Duration::hours(14);
        let baker =
            (day + Duration::days(1)).and_time(NaiveTime::MIN).and_utc() + Duration::hours(12);
        assert!(lo < kiritimati && hi > baker);
    }
}
