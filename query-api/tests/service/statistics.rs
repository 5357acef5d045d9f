//! The statistics held to their definitions: the examples that motivated them, and a property
//! test that generates random traffic on websites in five time zones and requires every figure
//! of `GET /v1/stats`, the funnel and the breakdown to equal an independent fold over the
//! generated events (`statistics/reference.rs`), every rate to lie in 0..1, every drill-down's
//! total to equal its figure, and a second projection of the same events in another order to
//! answer the same.
//!
//! `COLLOQUY_STATS_SEEDS` sets how many seeds the property test runs (3 by default; `deploy/dev
//! stats-check` is the long form).
//!
//! Over 500 lines: one property test, its traffic generator and its checks; the reference it
//! checks against is apart (`statistics/reference.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use schemas::payloads::{
    ContactSubmitted, ConversationClosed, ConversationRated, ConversationStarted, CtaClicked,
    MessageRef, WebsiteTimeZone, WidgetLoaded,
};
use schemas::{Event, Payload, Sender};
use serde_json::Value;

use crate::common::{TestApp, spawn_app};

#[path = "statistics/reference.rs"]
mod reference;
use reference::{Conversation, Figures, SERVICE_COUNTS, SERVICE_RATES, Zone};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(website: &str, conversation: &str, when: DateTime<Utc>, payload: Payload) -> Event {
    schemas::testing::event(website, conversation, when, payload)
}

fn loaded(website: &str, conversation: &str, when: DateTime<Utc>) -> Event {
    at(
        website,
        conversation,
        when,
        Payload::WidgetLoaded(WidgetLoaded::default()),
    )
}

fn said(website: &str, conversation: &str, when: DateTime<Utc>, sender: Sender) -> Event {
    schemas::testing::message(website, conversation, when, sender, "hello")
}

fn time_zone(website: &str, zone: &str, when: DateTime<Utc>) -> Event {
    at(
        website,
        website,
        when,
        Payload::WebsiteTimeZoneChanged(WebsiteTimeZone {
            website_id: website.into(),
            time_zone: zone.into(),
        }),
    )
}

/// Every count of a `GET /v1/stats` period opens as a list whose total is the count. The
/// lists are asked for four at a time: the property test opens thousands.
async fn drill_down(app: &TestApp, token: &str, period: &Value) {
    use futures::StreamExt as _;
    let open = period["open"].as_object().unwrap();
    assert!(!open.is_empty());
    let lists: Vec<_> = futures::stream::iter(open)
        .map(|(figure, path)| async move {
            let path = path.as_str().unwrap();
            let (status, list) = app.get_as(token, &format!("{path}&limit=1")).await;
            (figure, path, status, list)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (figure, path, status, list) in lists {
        assert_eq!(status, 200, "{path}: {list}");
        // `rating_distribution.1` names a figure inside an object.
        let value = figure.split('.').fold(period, |v, key| &v[key]);
        assert_eq!(&list["total"], value, "{figure} opened as {path}");
    }
}

#[tokio::test]
async fn the_interaction_rate_is_the_share_of_loaded_widgets_that_engaged() {
    let app = spawn_app().await;
    let t = utc("2026-09-21T12:00:00Z");
    let mut events = Vec::new();
    for i in 0..10 {
        let c = format!("web-{i}");
        events.push(loaded("a", &c, t));
        if i < 4 {
            events.push(said("a", &c, t + Duration::seconds(5), Sender::User));
        }
    }
    // Server-side clients that engaged without a widget load.
    for i in 0..3 {
        let mut e = said("a", &format!("api-{i}"), t, Sender::User);
        e.context.channel = "api".into();
        events.push(e);
    }
    app.given(events).await;
    let (status, body) = app
        .api()
        .stats("website_id=a&from=2026-09-21&to=2026-09-21")
        .await;
    assert_eq!(status, 200, "{body}");
    let current = &body["current"];
    assert_eq!(current["widget_loads"], 10);
    assert_eq!(current["loaded_engaged_conversations"], 4);
    assert_eq!(current["engaged_conversations"], 7);
    assert_eq!(current["engaged_without_load"], 3);
    assert_eq!(current["interaction_rate"], 0.4);
    drill_down(&app, crate::common::TOKEN, current).await;
}

/// The statistics add up quarter hours (UTC) of conversation start: exact for a zone's days
/// and hours as long as its offset is a whole number of quarter hours (docs/statistics.md).
#[tokio::test]
async fn every_time_zone_is_a_whole_number_of_quarter_hours_from_utc() {
    let app = spawn_app().await;
    let odd: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM pg_timezone_names WHERE extract(epoch FROM utc_offset)::int % 900 <> 0",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(odd.is_empty(), "zones off the quarter hours: {odd:?}");
}

#[tokio::test]
async fn a_website_counts_its_own_days_and_tz_overrides_them() {
    let app = spawn_app().await;
    // 2026-09-21T02:00Z is the 20th in Los Angeles, the 21st in UTC and in Kolkata;
    // 2026-09-21T20:00Z is the 21st in Los Angeles and UTC, the 22nd in Kolkata.
    let early = utc("2026-09-21T02:00:00Z");
    let late = utc("2026-09-21T20:00:00Z");
    app.given(vec![loaded("a", "c1", early), loaded("a", "c2", late)])
        .await;
    let (status, body) = app
        .api()
        .set_time_zone("a", serde_json::json!({"time_zone": "America/Los_Angeles"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let loads = |body: &Value| -> Vec<(String, i64)> {
        body["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["day"].as_str().unwrap().to_owned(),
                    r["widget_loads"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let range = "website_id=a&from=2026-09-20&to=2026-09-22";
    let (_, own) = app.api().stats(range).await;
    assert_eq!(own["time_zone"], "America/Los_Angeles");
    assert_eq!(
        loads(&own),
        [
            ("2026-09-20".into(), 1),
            ("2026-09-21".into(), 1),
            ("2026-09-22".into(), 0)
        ]
    );
    let (_, utc_days) = app.api().stats(&format!("{range}&tz=UTC")).await;
    assert_eq!(
        loads(&utc_days),
        [
            ("2026-09-20".into(), 0),
            ("2026-09-21".into(), 2),
            ("2026-09-22".into(), 0)
        ]
    );
    let (_, kolkata) = app.api().stats(&format!("{range}&tz=Asia/Kolkata")).await;
    assert_eq!(
        loads(&kolkata),
        [
            ("2026-09-20".into(), 0),
            ("2026-09-21".into(), 1),
            ("2026-09-22".into(), 1)
        ]
    );
    // The conversation list's days are the same days.
    let (_, list) = app
        .api()
        .conversations("website_id=a&from=2026-09-20&to=2026-09-20")
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["conversations"][0]["conversation_id"], "c1");
    let (status, body) = app.api().stats(&format!("{range}&tz=Mars/Olympus")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .api()
        .set_time_zone("a", serde_json::json!({"time_zone": "Europe/Nowhere"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, zone) = app.api().time_zone("a").await;
    assert_eq!(zone["time_zone"], "America/Los_Angeles");
}

#[tokio::test]
async fn lists_and_exports_filter_by_the_websites_days() {
    let app = spawn_app().await;
    // 02:00Z on the 21st is the 20th in Los Angeles; 20:00Z is the 21st there.
    let early = utc("2026-09-21T02:00:00Z");
    let late = utc("2026-09-21T20:00:00Z");
    let submitted = |conversation: &str, when, email: &str| {
        at(
            "a",
            conversation,
            when,
            Payload::ContactSubmitted(ContactSubmitted {
                request_id: None,
                name: None,
                email: Some(email.into()),
                phone: None,
                message: None,
                chat_context: vec![],
            }),
        )
    };
    app.given(vec![
        time_zone("a", "America/Los_Angeles", utc("2026-01-01T00:00:00Z")),
        loaded("a", "c1", early),
        submitted("c1", early + Duration::seconds(5), "early@example.com"),
        loaded("a", "c2", late),
        submitted("c2", late + Duration::seconds(5), "late@example.com"),
    ])
    .await;
    let on_the_20th = "website_id=a&from=2026-09-20&to=2026-09-20";
    let (status, contacts) = app.api().contacts(on_the_20th).await;
    assert_eq!(status, 200, "{contacts}");
    assert_eq!(contacts["total"], 1);
    assert_eq!(contacts["contacts"][0]["email"], "early@example.com");
    let (_, utc_day) = app
        .api()
        .contacts("website_id=a&from=2026-09-21&to=2026-09-21&tz=UTC")
        .await;
    assert_eq!(utc_day["total"], 2);
    let export = |path: String| {
        let app = &app;
        async move {
            let response = app.fetch(&path, Some(crate::common::TOKEN)).await;
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };
    let events = export(format!("/v1/exports/events?{on_the_20th}&format=ndjson")).await;
    assert_eq!(events.lines().count(), 2, "{events}");
    assert!(events.lines().all(|l| l.contains("\"c1\"")), "{events}");
    let legacy =
        export("/analytics/export?website_id=a&start_date=2026-09-21&end_date=2026-09-21".into())
            .await;
    assert_eq!(
        legacy.lines().count(),
        1 + 2,
        "a header and c2's events: {legacy}"
    );
    let (status, body) = app.api().contacts("tz=Nowhere/Else").await;
    assert_eq!(status, 400, "{body}");
}

/// A small, seeded generator (splitmix64): the same seed gives the same traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The websites of one seed's traffic, one per zone: each seed has its own, so seeds share
/// two apps (a fresh app per seed held its connections to the end, and fifty seeds ran out).
fn websites(seed: u64) -> Vec<(String, Zone)> {
    Zone::ALL
        .iter()
        .map(|z| {
            (
                format!("s{seed}-{}", z.name().replace('/', "-").to_lowercase()),
                *z,
            )
        })
        .collect()
}

/// The days the traffic falls on: around both 2026 switches of summer time.
const SPANS: [(&str, &str); 2] = [("2026-03-06", "2026-03-10"), ("2026-10-30", "2026-11-03")];

/// Random traffic for every website: loads, engagements with and without loads, messages of
/// every sender, CTA clicks, contact forms, ratings and closes, some events earlier than the
/// conversation's others (late arrivals), and many near local midnight.
fn traffic(rng: &mut Rng, seed: u64, conversations: usize) -> Vec<Event> {
    let sites = websites(seed);
    let pages = ["https://shop.example/", "https://shop.example/pricing"];
    let devices = [Some("mobile"), Some("desktop"), None];
    let mut events = Vec::new();
    for (website, zone) in &sites {
        // A wrong zone first and the right one after it: the latest change wins.
        events.push(time_zone(
            website,
            "Europe/Berlin",
            utc("2026-01-01T00:00:00Z"),
        ));
        events.push(time_zone(website, zone.name(), utc("2026-01-02T00:00:00Z")));
    }
    for n in 0..conversations {
        let (website, zone) = rng.pick(&sites).clone();
        let (from, to) = *rng.pick(&SPANS);
        let days = (day(to) - day(from)).num_days() + 1;
        let d = day(from) + Duration::days(rng.below(days as u64) as i64);
        // A third start within two minutes of a local midnight, of this zone or another.
        let start = if rng.chance(33) {
            let near = rng.pick(&Zone::ALL).midnight(d);
            near + Duration::seconds(rng.below(240) as i64 - 120)
        } else {
            zone.midnight(d) + Duration::seconds(rng.below(86_400) as i64)
        };
        let c = format!("c{n}");
        let channel = if rng.chance(20) { "api" } else { "frame" };
        let device = *rng.pick(&devices);
        let visitor = rng.chance(70).then(|| format!("visitor-{}", rng.below(40)));
        let mut mine: Vec<Event> = Vec::new();
        let mut t = start;
        let mut step = |rng: &mut Rng| {
            t += Duration::seconds(1 + rng.below(900) as i64);
            t
        };
        if rng.chance(75) {
            let mut e = loaded(&website, &c, start);
            e.payload = Payload::WidgetLoaded(WidgetLoaded {
                page_url: Some((*rng.pick(&pages)).into()),
                customer_id: rng.chance(20).then(|| format!("cust-{}", rng.below(20))),
            });
            mine.push(e);
        }
        if rng.chance(60) {
            if rng.chance(50) {
                let when = step(rng);
                mine.push(at(
                    &website,
                    &c,
                    when,
                    Payload::ConversationStarted(ConversationStarted::default()),
                ));
            }
            for _ in 0..rng.below(4) {
                let when = step(rng);
                let mut e = said(&website, &c, when, Sender::User);
                if let Payload::MessageSent(m) = &mut e.payload {
                    // A visitor asking for a human.
                    m.requires_human = rng.chance(5);
                }
                mine.push(e);
            }
        }
        for _ in 0..rng.below(4) {
            let sender = *rng.pick(&[Sender::Bot, Sender::Bot, Sender::Agent]);
            let when = step(rng);
            let mut e = said(&website, &c, when, sender);
            if let Payload::MessageSent(m) = &mut e.payload {
                m.response_time_ms =
                    (sender == Sender::Bot && rng.chance(70)).then(|| 100 + rng.below(3_000));
                m.requires_human = rng.chance(10);
            }
            mine.push(e);
        }
        for _ in 0..rng.below(3) {
            let when = step(rng);
            mine.push(at(
                &website,
                &c,
                when,
                Payload::CtaClicked(CtaClicked {
                    cta_id: None,
                    customer_id: None,
                    label: "Buy".into(),
                    value: None,
                }),
            ));
        }
        if rng.chance(20) {
            let when = step(rng);
            mine.push(at(
                &website,
                &c,
                when,
                Payload::ContactSubmitted(ContactSubmitted {
                    request_id: Some(format!("r{n}")),
                    name: None,
                    email: Some(format!("p{}@example.com", rng.below(50))),
                    phone: None,
                    message: None,
                    chat_context: vec![],
                }),
            ));
        }
        for _ in 0..rng.below(3).saturating_sub(1) {
            let when = step(rng);
            mine.push(at(
                &website,
                &c,
                when,
                Payload::ConversationRated(ConversationRated {
                    rating: 1 + rng.below(5) as u8,
                    comment: None,
                }),
            ));
        }
        // Admins flag a message for a human, or mark that a human replied to it.
        let messages: Vec<String> = mine
            .iter()
            .filter(|e| matches!(e.payload, Payload::MessageSent(_)))
            .map(|e| e.event_id.to_string())
            .collect();
        if !messages.is_empty() {
            for replied in [false, true] {
                if rng.chance(12) {
                    let target = MessageRef {
                        message_id: rng.pick(&messages).clone(),
                    };
                    let when = step(rng);
                    mine.push(at(
                        &website,
                        &c,
                        when,
                        if replied {
                            Payload::MessageHumanReplied(target)
                        } else {
                            Payload::MessageFlaggedForHuman(target)
                        },
                    ));
                }
            }
        }
        // Closed, perhaps reopened by the visitor (and perhaps answered), and closed again.
        let mut closes = 0;
        while closes < 3 && rng.chance(if closes == 0 { 35 } else { 40 }) {
            closes += 1;
            let when = step(rng);
            mine.push(at(
                &website,
                &c,
                when,
                Payload::ConversationClosed(ConversationClosed {
                    reason: schemas::payloads::CloseReason::User,
                }),
            ));
            if rng.chance(50) {
                let when = step(rng);
                mine.push(said(&website, &c, when, Sender::User));
                if rng.chance(50) {
                    let when = step(rng);
                    mine.push(said(
                        &website,
                        &c,
                        when,
                        *rng.pick(&[Sender::Bot, Sender::Agent]),
                    ));
                }
            }
        }
        // A late arrival from before everything else: it moves the conversation's start,
        // perhaps to the day before.
        if !mine.is_empty() && rng.chance(15) {
            let early = start - Duration::seconds(1 + rng.below(7_200) as i64);
            mine.push(said(&website, &c, early, Sender::Bot));
        }
        for e in &mut mine {
            e.context.channel = channel.into();
            e.context.device = device.map(str::to_owned);
            e.context.visitor = visitor.clone();
        }
        events.extend(mine);
    }
    events
}

/// `events` in a random order, in batches of random size, as partitions deliver them.
async fn project(app: &TestApp, rng: &mut Rng, mut events: Vec<Event>) {
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut rest = events.as_slice();
    while !rest.is_empty() {
        let n = (1 + rng.below(400) as usize).min(rest.len());
        app.given(rest[..n].to_vec()).await;
        rest = &rest[n..];
    }
}

/// Every figure of `period` against the reference's.
fn assert_figures(period: &Value, expected: &Figures, what: &str) {
    assert_some_figures(period, expected, what, |_| true);
    for name in [
        "interaction_rate",
        "cta_rate",
        "conversion_rate",
        "escalation_rate",
        "containment_rate",
        "abandonment_rate",
        "reopen_rate",
        "csat",
    ] {
        if let Some(r) = period[name].as_f64() {
            assert!((0.0..=1.0).contains(&r), "{what}: {name} = {r}");
        }
    }
}

/// The figures of `expected` that `wanted` names against `answer`'s (`a.b` names `b` inside
/// `a`).
fn assert_some_figures(
    answer: &Value,
    expected: &Figures,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) {
    let get = |name: &str| name.split('.').fold(answer, |v, key| &v[key]).clone();
    for (name, count) in expected.counts.iter().filter(|(n, _)| wanted(n)) {
        assert_eq!(get(name).as_i64(), Some(*count), "{what}: {name}");
    }
    for (name, rate) in expected.rates.iter().filter(|(n, _)| wanted(n)) {
        let got = get(name);
        match rate {
            None => assert!(got.is_null(), "{what}: {name} = {got}"),
            Some(r) => {
                let got = got
                    .as_f64()
                    .unwrap_or_else(|| panic!("{what}: {name} = {got}"));
                // Exact but for floating point: relative to the figure (times are large).
                assert!(
                    (got - r).abs() <= 1e-9 * r.abs().max(1.0),
                    "{what}: {name} {got} != {r}"
                );
            }
        }
    }
}

/// The conversations of `conversations` started on `[from, to]` in `zone` (each website's own
/// when `None`).
fn started<'a>(
    conversations: &'a BTreeMap<(String, String), Conversation>,
    sites: &'a BTreeMap<String, Zone>,
    website: Option<&'a str>,
    from: NaiveDate,
    to: NaiveDate,
    zone: Option<Zone>,
) -> impl Iterator<Item = &'a Conversation> + 'a {
    conversations.values().filter(move |c| {
        let z = zone.unwrap_or(sites[&c.website]);
        let d = z.day(c.first_seen.unwrap());
        website.is_none_or(|w| w == c.website) && d >= from && d <= to
    })
}

/// Checks every statistic of every website of `seed` (and of all of them at once, through a
/// token that sees only them) against `reference`, in the websites' own days and in a zone the
/// request names; returns every answer, for the comparison of two projections.
async fn check(
    app: &TestApp,
    seed: u64,
    conversations: &BTreeMap<(String, String), Conversation>,
) -> Vec<Value> {
    let names: Vec<String> = websites(seed).into_iter().map(|(w, _)| w).collect();
    let token = app
        .token_for(&names.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let sites: BTreeMap<String, Zone> = websites(seed).into_iter().collect();
    let sites = &sites;
    let mut answers = Vec::new();
    let mut scopes: Vec<(Option<String>, Option<Zone>)> =
        names.iter().map(|w| (Some(w.clone()), None)).collect();
    scopes.push((None, None));
    scopes.push((names[1].clone().into(), Some(Zone::Kolkata)));
    scopes.push((None, Some(Zone::StJohns)));
    for (from, to) in SPANS {
        let (from, to) = (day(from), day(to));
        for (website, zone) in &scopes {
            let mut query = format!("from={from}&to={to}");
            if let Some(w) = website {
                query += &format!("&website_id={w}");
            }
            if let Some(z) = zone {
                query += &format!("&tz={}", z.name());
            }
            let what = format!("stats?{query}");
            let (status, body) = app.api_as(&token).stats(&query).await;
            assert_eq!(status, 200, "{what}: {body}");
            let all = Figures::of(started(
                conversations,
                sites,
                website.as_deref(),
                from,
                to,
                *zone,
            ));
            assert_figures(&body["current"], &all, &what);
            // Every day on its own, and the days add up to the range.
            let series = body["series"].as_array().unwrap();
            assert_eq!(series.len() as i64, (to - from).num_days() + 1, "{what}");
            for row in series {
                let d: NaiveDate = day(row["day"].as_str().unwrap());
                let expected = Figures::of(started(
                    conversations,
                    sites,
                    website.as_deref(),
                    d,
                    d,
                    *zone,
                ));
                assert_figures(row, &expected, &format!("{what} on {d}"));
            }
            for name in [
                "conversations",
                "widget_loads",
                "engaged_conversations",
                "messages",
            ] {
                let sum: i64 = series.iter().map(|r| r[name].as_i64().unwrap()).sum();
                assert_eq!(
                    sum,
                    body["current"][name].as_i64().unwrap(),
                    "{what}: {name}"
                );
            }
            drill_down(app, &token, &body["current"]).await;
            let (_, funnel) = app
                .api_as(&token)
                .funnel(&format!("{query}&interval=day"))
                .await;
            for (stage, figure) in [
                ("started", "conversations"),
                ("loaded", "widget_loads"),
                ("engaged", "engaged_conversations"),
                ("loaded_engaged", "loaded_engaged_conversations"),
                ("cta_clicked", "cta_conversations"),
                ("contact_submitted", "contact_requests"),
            ] {
                assert_eq!(
                    funnel["stages"][stage].as_i64(),
                    Some(all.counts[figure]),
                    "{what}: funnel {stage}"
                );
                let (_, list) = app
                    .get_as(
                        &token,
                        &format!("{}&limit=1", funnel["open"][stage].as_str().unwrap()),
                    )
                    .await;
                assert_eq!(
                    list["total"], funnel["stages"][stage],
                    "{what}: funnel {stage} opened"
                );
            }
            let (_, breakdown) = app.api_as(&token).breakdown(&query).await;
            let mut channels: BTreeMap<String, Vec<&Conversation>> = BTreeMap::new();
            let mut devices: BTreeMap<String, Vec<&Conversation>> = BTreeMap::new();
            for c in started(conversations, sites, website.as_deref(), from, to, *zone)
                .filter(|c| c.engaged)
            {
                channels.entry(c.channel.clone()).or_default().push(c);
                devices
                    .entry(c.device.clone().unwrap_or_else(|| "unknown".into()))
                    .or_default()
                    .push(c);
            }
            for (rows, groups) in [("by_channel", channels), ("by_device", devices)] {
                let got: BTreeMap<String, i64> = breakdown[rows]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["key"].as_str().unwrap().to_owned(),
                            r["conversations"].as_i64().unwrap(),
                        )
                    })
                    .collect();
                let expected: BTreeMap<String, i64> = groups
                    .iter()
                    .map(|(k, v)| (k.clone(), v.len() as i64))
                    .collect();
                assert_eq!(got, expected, "{what}: {rows}");
                for r in breakdown[rows].as_array().unwrap() {
                    // Each row carries the service figures of its conversations.
                    let key = r["key"].as_str().unwrap();
                    let figures = Figures::of(groups[key].iter().copied());
                    assert_some_figures(r, &figures, &format!("{what}: {rows} {key}"), |n| {
                        SERVICE_COUNTS.contains(&n) || SERVICE_RATES.contains(&n)
                    });
                    let (_, list) = app
                        .get_as(&token, &format!("{}&limit=1", r["open"].as_str().unwrap()))
                        .await;
                    assert_eq!(
                        list["total"], r["conversations"],
                        "{what}: {rows} {} opened",
                        r["key"]
                    );
                }
            }
            for mut answer in [body, funnel, breakdown] {
                answer.as_object_mut().unwrap().remove("as_of");
                answers.push(answer);
            }
        }
    }
    answers
}

#[tokio::test]
async fn every_figure_equals_an_independent_fold_of_random_traffic() {
    let seeds: u64 = std::env::var("COLLOQUY_STATS_SEEDS")
        .ok()
        .map_or(3, |s| s.parse().expect("COLLOQUY_STATS_SEEDS: a number"));
    // The same history projected twice, in other orders and other batches, as a rebuild
    // reads it again: the same answers.
    let (live, rebuilt) = (spawn_app().await, spawn_app().await);
    for seed in 0..seeds {
        let mut rng = Rng(seed * 7_919 + 1);
        let events = traffic(&mut rng, seed, 400);
        let conversations = reference::conversations(&events);
        project(&live, &mut rng, events.clone()).await;
        project(&rebuilt, &mut rng, events).await;
        // Both checked at once: each waits on its own database most of the time.
        let (answers, again) = tokio::join!(
            check(&live, seed, &conversations),
            check(&rebuilt, seed, &conversations)
        );
        assert_eq!(again, answers, "seed {seed}");
    }
}
