//! The website's days: every date filter and every per-day or per-hour figure places instants
//! on the days of the website's time zone (`website_time_zones`, UTC until set), or of the
//! zone a request names with `tz`. Postgres converts, from its time zone database, so zones with
//! half- and quarter-hour offsets and days of 23 or 25 hours are exact.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::{Postgres, QueryBuilder};

/// How a request's days are placed in time: in each website's own time zone (set with
/// `PUT /v1/websites/{id}/time_zone`, UTC until then), or in one zone the request names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone(pub Option<String>);

/// Joins each conversation to its website's time zone (`z`) and bot settings (`b`, which the
/// outcome populations read), and to the priority an admin set (`pr`, which
/// [`super::conversations::PRIORITY`] reads); the statistics and the conversation list read
/// `conversations c` through it. A join, not a lookup per row: over a million
/// conversations the lookup made the statistics eight times slower and kept them on one core.
/// A query that reads nothing of `pr` does not join it (its key is unique: Postgres drops it).
pub const CONVERSATIONS_ZONED: &str = "conversations c
     LEFT JOIN website_time_zones z ON z.website_id = c.website_id
     LEFT JOIN website_bot_settings b ON b.website_id = c.website_id
     LEFT JOIN conversation_priorities pr
       ON pr.website_id = c.website_id AND pr.conversation_id = c.conversation_id";

/// Where a query finds the zone of a row's website.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneOf<'a> {
    /// In `z.time_zone`, joined as [`CONVERSATIONS_ZONED`] does.
    Joined,
    /// Looked up for the `website_id` of the table (or alias) named: for lists and exports
    /// that are not read through a join.
    Lookup(&'a str),
}

/// Appends the zone expression of a row: the request's zone, else its website's, else UTC.
fn push_zone(q: &mut QueryBuilder<'_, Postgres>, zone: &Zone, of: ZoneOf<'_>) {
    q.push("COALESCE(")
        .push_bind(zone.0.clone())
        .push("::text, ");
    match of {
        ZoneOf::Joined => q.push("z.time_zone"),
        ZoneOf::Lookup(table) => q.push(format!(
            "(SELECT z.time_zone FROM website_time_zones z WHERE z.website_id = {table}.website_id)"
        )),
    };
    q.push(", 'UTC')");
}

/// Appends `({instant} AT TIME ZONE zone)`: the local wall-clock time of a row's instant.
pub fn push_local(q: &mut QueryBuilder<'_, Postgres>, instant: &str, zone: &Zone, of: ZoneOf<'_>) {
    q.push(format!("({instant} AT TIME ZONE "));
    push_zone(q, zone, of);
    q.push(")");
}

/// Appends ` AND …` keeping the rows whose `instant` falls on a local day of `[from, to]`.
/// The instant bounds widened by the largest offsets from UTC (−12 h to +14 h) let an index
/// find the candidates; the local day decides.
pub fn push_days(
    q: &mut QueryBuilder<'_, Postgres>,
    instant: &str,
    (from, to): (NaiveDate, NaiveDate),
    zone: &Zone,
    of: ZoneOf<'_>,
) {
    let (lo, hi) = widened(from, to);
    q.push(format!(" AND {instant} >= ")).push_bind(lo);
    q.push(format!(" AND {instant} < ")).push_bind(hi);
    q.push(" AND ");
    push_local(q, instant, zone, of);
    q.push("::date BETWEEN ").push_bind(from);
    q.push(" AND ").push_bind(to);
}

/// Appends ` AND …` keeping the rows whose `instant` falls on the last `days` local days,
/// today included, where today is each row's website's today.
pub fn push_last_days(
    q: &mut QueryBuilder<'_, Postgres>,
    instant: &str,
    days: i64,
    zone: &Zone,
    of: ZoneOf<'_>,
) {
    q.push(format!(" AND {instant} >= now() - "))
        .push_bind(days as i32);
    q.push(" * interval '1 day' - interval '15 hours' AND ");
    push_local(q, instant, zone, of);
    q.push("::date > ");
    push_local(q, "now()", zone, of);
    q.push("::date - ").push_bind(days as i32);
}

/// Which local days a date filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalDays {
    /// `[from, to]`.
    Between(NaiveDate, NaiveDate),
    /// The last so many days, today (each website's) included.
    Last(i64),
}

impl LocalDays {
    /// Appends ` AND …` keeping the rows whose `instant` falls on these days.
    pub fn push(
        self,
        q: &mut QueryBuilder<'_, Postgres>,
        instant: &str,
        zone: &Zone,
        of: ZoneOf<'_>,
    ) {
        match self {
            LocalDays::Between(from, to) => push_days(q, instant, (from, to), zone, of),
            LocalDays::Last(days) => push_last_days(q, instant, days, zone, of),
        }
    }
}

/// The conversations started on a local day of `days` (see [`push_days`]).
pub fn push_started(q: &mut QueryBuilder<'_, Postgres>, days: (NaiveDate, NaiveDate), zone: &Zone) {
    push_days(q, "c.first_seen_at", days, zone, ZoneOf::Joined);
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
