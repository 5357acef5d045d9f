//! A scripted day of support traffic through the real broker, projector and query API, with
//! the answers worked out by hand below: each conversation's response, handoff and resolution
//! facts, the day's figures in the website's zone (Kolkata) and in another (St. John's), and
//! the questions the bot could not handle. One visitor is erased. A full rebuild replays the
//! topic and must answer exactly the same.

use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e::{ADMIN_TOKEN, Stack, WEBSITE};
use reqwest::Method;
use schemas::payloads::{CloseReason, WebsiteTimeZone, WidgetLoaded};
use schemas::{Event, Payload, Sender};
use serde_json::{Value, json};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn at(conversation: &str, when: &str, payload: Payload) -> Event {
    schemas::testing::event(WEBSITE, conversation, utc(when), payload)
}

/// A message; `then` adjusts its payload (confidence, a request for a human, a customer).
fn said(
    conversation: &str,
    when: &str,
    sender: Sender,
    text: &str,
    then: impl FnOnce(&mut schemas::payloads::MessageSent),
) -> Event {
    let mut e = schemas::testing::message(WEBSITE, conversation, utc(when), sender, text);
    if let Payload::MessageSent(m) = &mut e.payload {
        then(m);
    }
    e
}

fn closed(conversation: &str, when: &str, reason: CloseReason) -> Event {
    schemas::testing::closed(WEBSITE, conversation, utc(when), reason)
}

fn rated(conversation: &str, when: &str, rating: u8) -> Event {
    schemas::testing::rated(WEBSITE, conversation, utc(when), rating)
}

/// 2026-11-10. Kolkata is UTC+5:30, St. John's UTC-3:30: k0 (01:00Z) is the 10th only in
/// Kolkata, k6 (20:00Z) only in St. John's, the others both.
fn day() -> Vec<Event> {
    let plain = |_: &mut schemas::payloads::MessageSent| {};
    vec![
        at(
            WEBSITE,
            "2026-01-01T00:00:00Z",
            Payload::WebsiteTimeZoneChanged(WebsiteTimeZone {
                website_id: WEBSITE.into(),
                time_zone: "Asia/Kolkata".into(),
            }),
        ),
        // k0: the bot answers in 4 s, unsure (0.2); idle since: contained.
        said(
            "k0",
            "2026-11-10T01:00:00Z",
            Sender::User,
            "Do you ship to Norway?",
            plain,
        ),
        said(
            "k0",
            "2026-11-10T01:00:04Z",
            Sender::Bot,
            "I think so",
            |m| {
                m.confidence_score = Some(0.2);
            },
        ),
        // k1: answered in 3 s, rated 5, idle: contained.
        said(
            "k1",
            "2026-11-10T10:00:00Z",
            Sender::User,
            "Opening hours?",
            plain,
        ),
        said("k1", "2026-11-10T10:00:03Z", Sender::Bot, "9 to 5", plain),
        rated("k1", "2026-11-10T10:01:00Z", 5),
        // k2: answered in 5 s, closed by the visitor, reopened, an agent answers 12 minutes
        // after the first question, rated 2, closed by an admin: resolved in 15 minutes.
        said(
            "k2",
            "2026-11-10T11:00:00Z",
            Sender::User,
            "Where is my parcel?",
            plain,
        ),
        said(
            "k2",
            "2026-11-10T11:00:05Z",
            Sender::Bot,
            "On its way",
            plain,
        ),
        closed("k2", "2026-11-10T11:02:00Z", CloseReason::User),
        said(
            "k2",
            "2026-11-10T11:10:00Z",
            Sender::User,
            "It is not here",
            plain,
        ),
        said(
            "k2",
            "2026-11-10T11:12:00Z",
            Sender::Agent,
            "Let me check",
            plain,
        ),
        rated("k2", "2026-11-10T11:14:00Z", 2),
        closed("k2", "2026-11-10T11:15:00Z", CloseReason::Admin),
        // k3: the visitor asks for a person; the bot answers in 2 s; no human ever replies.
        said(
            "k3",
            "2026-11-10T12:00:00Z",
            Sender::User,
            "I need to talk to a person",
            |m| m.requires_human = true,
        ),
        said(
            "k3",
            "2026-11-10T12:00:02Z",
            Sender::Bot,
            "Connecting you",
            plain,
        ),
        // k4: the erased visitor; nobody answers: abandoned.
        said(
            "k4",
            "2026-11-10T13:00:00Z",
            Sender::User,
            "My order 4711 from Ravi Kapoor is late",
            |m| m.customer_id = Some("cust-ravi".into()),
        ),
        // k5: the widget loads; the visitor never engages.
        at(
            "k5",
            "2026-11-10T14:00:00Z",
            Payload::WidgetLoaded(WidgetLoaded::default()),
        ),
        // k6: an agent answers in a minute: contained.
        said(
            "k6",
            "2026-11-10T20:00:00Z",
            Sender::User,
            "Do you have gift cards?",
            plain,
        ),
        said("k6", "2026-11-10T20:01:00Z", Sender::Agent, "Yes", plain),
    ]
}

/// What the day's answers must be, figure by figure: `(query, figure, value)`.
fn expected() -> Vec<(&'static str, &'static str, Value)> {
    let kolkata = "";
    let st_johns = "&tz=America/St_Johns";
    vec![
        (kolkata, "engaged_conversations", json!(5)),
        (kolkata, "bot_answered_conversations", json!(4)),
        // 2, 3, 4 and 5 s.
        (kolkata, "median_bot_first_response_ms", json!(3500.0)),
        (kolkata, "p90_bot_first_response_ms", json!(4700.0)),
        (kolkata, "agent_answered_conversations", json!(1)),
        (kolkata, "median_agent_first_response_ms", json!(720_000.0)),
        (kolkata, "escalated_conversations", json!(1)),
        (kolkata, "waiting_for_human", json!(1)),
        (kolkata, "handoff_answered_conversations", json!(0)),
        (kolkata, "contained_conversations", json!(3)),
        (kolkata, "containment_rate", json!(0.6)),
        (kolkata, "abandoned_conversations", json!(1)),
        (kolkata, "abandonment_rate", json!(0.2)),
        (kolkata, "closed_conversations", json!(1)),
        (kolkata, "reopened_conversations", json!(1)),
        (kolkata, "reopen_rate", json!(1.0)),
        (kolkata, "resolved_conversations", json!(1)),
        (kolkata, "median_resolution_ms", json!(900_000.0)),
        (kolkata, "ratings", json!(2)),
        (kolkata, "csat", json!(0.5)),
        (st_johns, "engaged_conversations", json!(5)),
        // 2, 3 and 5 s.
        (st_johns, "median_bot_first_response_ms", json!(3000.0)),
        // 1 and 12 minutes.
        (st_johns, "median_agent_first_response_ms", json!(390_000.0)),
        (st_johns, "containment_rate", json!(0.6)),
        (st_johns, "abandonment_rate", json!(0.2)),
    ]
}

/// Everything the test reads: the day's figures in both zones, every conversation, and the
/// questions the bot could not handle.
async fn answers(stack: &Stack) -> Value {
    let mut out = serde_json::Map::new();
    for tz in ["", "&tz=America/St_Johns"] {
        let (status, mut body) = stack
            .query(&format!(
                "/v1/stats?website_id={WEBSITE}&from=2026-11-10&to=2026-11-10{tz}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_object_mut().unwrap().remove("as_of");
        out.insert(format!("stats{tz}"), body);
    }
    let (status, mut list) = stack
        .query(&format!(
            "/v1/conversations?website_id={WEBSITE}&sort=first_seen_at&limit=50"
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_object_mut().unwrap().remove("as_of");
    out.insert("conversations".into(), list);
    let (status, mut quality) = stack
        .query(&format!(
            "/v1/bot-quality?website_id={WEBSITE}&from=2026-11-10&to=2026-11-10"
        ))
        .await;
    assert_eq!(status, 200, "{quality}");
    quality.as_object_mut().unwrap().remove("as_of");
    out.insert("quality".into(), quality);
    Value::Object(out)
}

/// `answers` hold the figures and facts worked out by hand.
fn check(answers: &Value) {
    for (tz, figure, value) in expected() {
        let got = &answers[format!("stats{tz}")]["current"][figure];
        match value.as_f64() {
            Some(v) if value.is_f64() => {
                let got = got
                    .as_f64()
                    .unwrap_or_else(|| panic!("{figure}{tz}: {got}"));
                assert!((got - v).abs() < 1e-9, "{figure}{tz}: {got} != {v}");
            }
            _ => assert_eq!(got, &value, "{figure}{tz}"),
        }
    }
    let rows = answers["conversations"]["conversations"]
        .as_array()
        .unwrap();
    let row = |id: &str| rows.iter().find(|r| r["conversation_id"] == id).unwrap();
    let facts = |id: &str| {
        let r = row(id);
        (
            r["outcome"].clone(),
            r["reopens"].clone(),
            r["resolution_ms"].clone(),
            r["handoff_reason"].clone(),
            r["handoff_response_ms"].clone(),
        )
    };
    let null = Value::Null;
    assert_eq!(
        facts("k2"),
        (
            json!("contained"),
            json!(1),
            json!(900_000),
            null.clone(),
            null.clone()
        )
    );
    assert_eq!(
        facts("k3"),
        (
            json!("handed_off"),
            json!(0),
            null.clone(),
            json!("visitor_asked"),
            null.clone()
        )
    );
    assert_eq!(
        facts("k4"),
        (
            json!("abandoned"),
            json!(0),
            null.clone(),
            null.clone(),
            null.clone()
        )
    );
    assert_eq!(row("k5")["outcome"], Value::Null, "never engaged");
    // The erased visitor's question is gone; the others remain, one group each.
    let quality = answers["quality"].to_string();
    assert!(!quality.contains("4711"), "{quality}");
    assert!(quality.contains("Do you ship to Norway?"), "{quality}");
    assert!(quality.contains("I need to talk to a person"), "{quality}");
    assert_eq!(answers["quality"]["questions"], 2, "{quality}");
}

#[tokio::test]
async fn a_scripted_support_day_gives_the_facts_worked_out_by_hand_before_and_after_a_rebuild() {
    let stack = Stack::start(3).await;
    stack.produce(&day()).await;
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    let (status, body) = stack
        .admin(
            Method::POST,
            "/v1/subjects/erase",
            ADMIN_TOKEN,
            Some(json!({"customer_id": "cust-ravi", "website_id": WEBSITE})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    let live = answers(&stack).await;
    check(&live);

    let output = stack.projector_command(&["rebuild"]).await;
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rebuild failed:\n{report}");
    assert!(report.contains("is live"), "{report}");
    assert_ne!(stack.live_schema().await, "public");
    let rebuilt = answers(&stack).await;
    assert_eq!(rebuilt, live, "a rebuild answers as the live version did");
}
