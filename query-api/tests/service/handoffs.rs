//! What support teams and bot owners judge conversations by: each conversation's response,
//! handoff and resolution facts and outcome, and the figures of a range, on a scripted day
//! whose answers are worked out by hand below, in the website's zone and in another.

use chrono::{DateTime, Duration, Utc};
use schemas::payloads::{CloseReason, MessageRef, WebsiteTimeZone, WidgetLoaded};
use schemas::{Event, Payload, Sender};
use serde_json::{Value, json};

use crate::common::spawn_app;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn at(conversation: &str, when: &str, payload: Payload) -> Event {
    schemas::testing::event("w", conversation, utc(when), payload)
}

fn said(conversation: &str, when: &str, sender: Sender) -> Event {
    schemas::testing::message("w", conversation, utc(when), sender, "hi")
}

fn asking(conversation: &str, when: &str) -> Event {
    let mut e = said(conversation, when, Sender::User);
    if let Payload::MessageSent(m) = &mut e.payload {
        m.requires_human = true;
    }
    e
}

fn closed(conversation: &str, when: &str, reason: CloseReason) -> Event {
    schemas::testing::closed("w", conversation, utc(when), reason)
}

fn rated(conversation: &str, when: &str, rating: u8) -> Event {
    schemas::testing::rated("w", conversation, utc(when), rating)
}

/// The scripted day, 2026-11-10 in St. John's (UTC-3:30): five conversations there, and one
/// (c6) that is the 10th in UTC but the 9th in St. John's.
fn day() -> Vec<Event> {
    let bot_answer = said("c4", "2026-11-10T15:00:08Z", Sender::Bot);
    let flag = at(
        "c4",
        "2026-11-10T15:02:00Z",
        Payload::MessageFlaggedForHuman(MessageRef {
            message_id: bot_answer.event_id.to_string(),
        }),
    );
    vec![
        at(
            "w",
            "2026-01-01T00:00:00Z",
            Payload::WebsiteTimeZoneChanged(WebsiteTimeZone {
                website_id: "w".into(),
                time_zone: "America/St_Johns".into(),
            }),
        ),
        // c1: the bot answers in 2 s; rated 5; the visitor closes it 5 minutes in.
        said("c1", "2026-11-10T12:00:00Z", Sender::User),
        said("c1", "2026-11-10T12:00:02Z", Sender::Bot),
        rated("c1", "2026-11-10T12:04:00Z", 5),
        closed("c1", "2026-11-10T12:05:00Z", CloseReason::User),
        // c2: the bot answers in 4 s; the visitor asks for a human at 13:01; an agent
        // answers at 13:03; rated 2; never closed.
        said("c2", "2026-11-10T13:00:00Z", Sender::User),
        said("c2", "2026-11-10T13:00:04Z", Sender::Bot),
        asking("c2", "2026-11-10T13:01:00Z"),
        said("c2", "2026-11-10T13:03:00Z", Sender::Agent),
        rated("c2", "2026-11-10T13:03:00Z", 2),
        // c3: the bot answers in 6 s; an admin closes it; rated 4; the visitor writes again
        // and nobody answers.
        said("c3", "2026-11-10T14:00:00Z", Sender::User),
        said("c3", "2026-11-10T14:00:06Z", Sender::Bot),
        closed("c3", "2026-11-10T14:10:00Z", CloseReason::Admin),
        rated("c3", "2026-11-10T14:11:00Z", 4),
        said("c3", "2026-11-10T14:20:00Z", Sender::User),
        // c4: the bot answers in 8 s; an admin flags the answer for a human; none replies.
        said("c4", "2026-11-10T15:00:00Z", Sender::User),
        bot_answer,
        flag,
        // c5: the widget loads; the visitor never engages.
        at(
            "c5",
            "2026-11-10T16:00:00Z",
            Payload::WidgetLoaded(WidgetLoaded::default()),
        ),
        // c6: 02:00 UTC on the 10th is 22:30 on the 9th in St. John's; answered in 10 s.
        said("c6", "2026-11-10T02:00:00Z", Sender::User),
        said("c6", "2026-11-10T02:00:10Z", Sender::Bot),
    ]
}

fn assert_close(got: &Value, expected: f64, what: &str) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {got} is not a number"));
    assert!((got - expected).abs() < 1e-9, "{what}: {got} != {expected}");
}

#[tokio::test]
async fn a_scripted_day_gives_the_facts_and_figures_worked_out_by_hand() {
    let app = spawn_app().await;
    let mut events = day();
    // Delivered newest first: the facts do not depend on order.
    events.reverse();
    app.given(events).await;

    let (status, c2) = app.api().conversation("c2", "website_id=w").await;
    assert_eq!(status, 200, "{c2}");
    let c2 = &c2["conversation"];
    assert_eq!(c2["bot_first_response_ms"], 4_000);
    assert_eq!(c2["agent_first_response_ms"], 180_000);
    assert_eq!(c2["handoff_at"], "2026-11-10T13:01:00Z");
    assert_eq!(c2["handoff_reason"], "visitor_asked");
    assert_eq!(c2["handoff_response_ms"], 120_000);
    assert_eq!(c2["outcome"], "handed_off");
    let (_, c3) = app.api().conversation("c3", "website_id=w").await;
    let c3 = &c3["conversation"];
    assert_eq!(
        (&c3["reopens"], &c3["unanswered"], &c3["outcome"]),
        (&json!(1), &json!(true), &json!("abandoned"))
    );
    assert_eq!(c3["resolution_ms"], Value::Null, "reopened: not closed now");
    let (_, c4) = app.api().conversation("c4", "website_id=w").await;
    assert_eq!(c4["conversation"]["handoff_reason"], "admin_flagged");
    let (_, c1) = app.api().conversation("c1", "website_id=w").await;
    assert_eq!(
        (
            &c1["conversation"]["resolution_ms"],
            &c1["conversation"]["outcome"]
        ),
        (&json!(300_000), &json!("contained"))
    );

    let (status, stats) = app
        .api()
        .stats("website_id=w&from=2026-11-10&to=2026-11-10")
        .await;
    assert_eq!(status, 200, "{stats}");
    let s = &stats["current"];
    for (figure, expected) in [
        ("engaged_conversations", 4),
        ("bot_answered_conversations", 4),
        ("agent_answered_conversations", 1),
        ("escalated_conversations", 2),
        ("handoff_answered_conversations", 1),
        ("waiting_for_human", 1),
        ("contained_conversations", 1),
        ("abandoned_conversations", 1),
        ("closed_conversations", 2),
        ("reopened_conversations", 1),
        ("resolved_conversations", 1),
        ("ratings", 3),
        ("satisfied_ratings", 2),
    ] {
        assert_eq!(s[figure], expected, "{figure}");
    }
    assert_eq!(
        s["rating_distribution"],
        json!({"1": 0, "2": 1, "3": 0, "4": 1, "5": 1})
    );
    for (figure, expected) in [
        ("escalation_rate", 0.5),
        ("containment_rate", 0.25),
        ("abandonment_rate", 0.25),
        ("reopen_rate", 0.5),
        ("csat", 2.0 / 3.0),
        // 2, 4, 6, 8 s: the median between 4 and 6; the 90th at rank 2.7 of 0..3.
        ("median_bot_first_response_ms", 5_000.0),
        ("p90_bot_first_response_ms", 7_400.0),
        ("median_agent_first_response_ms", 180_000.0),
        ("median_handoff_response_ms", 120_000.0),
        ("median_resolution_ms", 300_000.0),
        // 2, 2, 3 and 4 messages.
        ("median_messages_per_conversation", 2.5),
        ("p90_messages_per_conversation", 3.7),
        // 8 s, 3 min, 5 min, 20 min.
        ("median_duration_ms", 240_000.0),
    ] {
        assert_close(&s[figure], expected, figure);
    }
    // The breakdown's one channel carries the same figures.
    let (_, breakdown) = app
        .api()
        .breakdown("website_id=w&from=2026-11-10&to=2026-11-10")
        .await;
    let row = &breakdown["by_channel"][0];
    assert_eq!(row["conversations"], 4);
    assert_close(&row["containment_rate"], 0.25, "breakdown containment");
    assert_close(
        &row["median_bot_first_response_ms"],
        5_000.0,
        "breakdown median",
    );

    // In UTC days the 10th also holds c6: answered in 10 s, contained.
    let (_, utc_stats) = app
        .api()
        .stats("website_id=w&from=2026-11-10&to=2026-11-10&tz=UTC")
        .await;
    let u = &utc_stats["current"];
    assert_eq!(u["engaged_conversations"], 5);
    assert_eq!(u["contained_conversations"], 2);
    assert_close(&u["containment_rate"], 0.4, "UTC containment");
    assert_close(&u["median_bot_first_response_ms"], 6_000.0, "UTC median");
    assert_close(&u["p90_bot_first_response_ms"], 9_200.0, "UTC p90");

    // Waiting for a human, longest first; an outcome filter; the export's columns.
    let (_, waiting) = app
        .api()
        .conversations("website_id=w&population=waiting_for_human&sort=handoff_at")
        .await;
    assert_eq!(waiting["total"], 1);
    assert_eq!(waiting["conversations"][0]["conversation_id"], "c4");
    let (_, handed) = app
        .api()
        .conversations("website_id=w&sort=handoff_at")
        .await;
    let order: Vec<&str> = handed["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["c2", "c4"]);
    let (_, abandoned) = app
        .api()
        .conversations("website_id=w&outcome=abandoned")
        .await;
    assert_eq!(abandoned["conversations"][0]["conversation_id"], "c3");
    let (status, body) = app.api().conversations("outcome=gone").await;
    assert_eq!(status, 400, "{body}");
    let csv = app
        .fetch(
            "/v1/exports/conversations?website_id=w&format=csv",
            Some(crate::common::TOKEN),
        )
        .await
        .text()
        .await
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for column in [
        "bot_first_response_ms",
        "agent_first_response_ms",
        "handoff_at",
        "handoff_reason",
        "handoff_response_ms",
        "resolution_ms",
        "reopens",
        "outcome",
    ] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    let c2_line = csv.lines().find(|l| l.contains(",c2,")).unwrap();
    assert!(c2_line.contains(",visitor_asked,120000,"), "{c2_line}");
}

#[tokio::test]
async fn a_conversation_is_over_after_the_websites_idle_minutes() {
    let app = spawn_app().await;
    let now = Utc::now();
    let m = |minutes_ago: i64, sender| {
        schemas::testing::message("w", "c", now - Duration::minutes(minutes_ago), sender, "hi")
    };
    app.given(vec![m(20, Sender::User), m(20, Sender::Bot)])
        .await;
    let outcome = || async {
        let (_, c) = app.api().conversation("c", "website_id=w").await;
        c["conversation"]["outcome"].clone()
    };
    // Silent for 20 minutes: still open by the default 30.
    assert_eq!(outcome().await, "open");
    let (_, settings) = app.api().bot_settings("w").await;
    assert_eq!(
        (&settings["idle_minutes"], &settings["low_confidence"]),
        (&json!(30), &json!(0.5))
    );
    let (status, body) = app
        .api()
        .set_bot_settings("w", json!({"idle_minutes": 10}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["idle_minutes"], &body["low_confidence"]),
        (&json!(10), &json!(0.5)),
        "a field left out keeps its value"
    );
    assert_eq!(outcome().await, "contained");
    for bad in [json!({"idle_minutes": 0}), json!({"low_confidence": 1.5})] {
        let (status, body) = app.api().set_bot_settings("w", bad).await;
        assert_eq!(status, 400, "{body}");
    }
}

/// A visitor's message, answered by the bot with `confidence` when given.
fn asked_and_answered(
    conversation: &str,
    minute: i64,
    question: &str,
    confidence: Option<f64>,
) -> Vec<Event> {
    let t = utc("2026-11-10T12:00:00Z") + Duration::minutes(minute);
    let mut events = vec![schemas::testing::message(
        "w",
        conversation,
        t,
        Sender::User,
        question,
    )];
    if let Some(score) = confidence {
        let mut answer = schemas::testing::message(
            "w",
            conversation,
            t + Duration::seconds(2),
            Sender::Bot,
            "…",
        );
        if let Payload::MessageSent(m) = &mut answer.payload {
            m.confidence_score = Some(score);
        }
        events.push(answer);
    }
    events
}

/// `(example's group size, unsure, handed off, unanswered)` of each group, by every wording.
fn groups(body: &Value) -> Vec<(usize, Vec<String>, [u64; 3])> {
    body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut wordings: Vec<String> = std::iter::once(&g["example"])
                .chain(g["wordings"].as_array().unwrap())
                .map(|w| w.as_str().unwrap().to_owned())
                .collect();
            wordings.sort();
            (
                g["count"].as_u64().unwrap() as usize,
                wordings,
                [
                    g["unsure"].as_u64().unwrap(),
                    g["handed_off"].as_u64().unwrap(),
                    g["unanswered"].as_u64().unwrap(),
                ],
            )
        })
        .collect()
}

#[tokio::test]
async fn the_questions_the_bot_could_not_handle_are_grouped_and_forget_the_erased() {
    let app = spawn_app().await;
    let mut events = Vec::new();
    events.extend(asked_and_answered(
        "c1",
        0,
        "How much does shipping cost?",
        Some(0.3),
    ));
    events.extend(asked_and_answered(
        "c2",
        1,
        "how much is shipping??",
        Some(0.2),
    ));
    events.extend(asked_and_answered("c5", 2, "Cost of shipping?", Some(0.45)));
    // Answered sure: not listed.
    events.extend(asked_and_answered("c3", 3, "shipping cost", Some(0.9)));
    let mut asking = schemas::testing::message(
        "w",
        "c3",
        utc("2026-11-10T12:04:00Z"),
        Sender::User,
        "I want to cancel my subscription",
    );
    if let Payload::MessageSent(m) = &mut asking.payload {
        m.requires_human = true;
    }
    events.push(asking);
    events.extend(asked_and_answered("c4", 5, "cancel subscription", None));
    let mut erased = asked_and_answered("c6", 6, "Cancel my subscription please", None);
    if let Payload::MessageSent(m) = &mut erased[0].payload {
        m.customer_id = Some("cust-6".into());
    }
    events.extend(erased);
    app.given(events).await;
    let range = "website_id=w&from=2026-11-10&to=2026-11-10";

    let (status, body) = app.api().bot_quality(range).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["questions"], 6);
    let shipping = vec![
        "Cost of shipping?".to_owned(),
        "How much does shipping cost?".into(),
        "how much is shipping??".into(),
    ];
    let cancel = vec![
        "Cancel my subscription please".to_owned(),
        "I want to cancel my subscription".into(),
        "cancel subscription".into(),
    ];
    let found = groups(&body);
    assert_eq!(found.len(), 2, "{body}");
    assert!(found.contains(&(3, shipping.clone(), [3, 0, 0])), "{body}");
    // c3's request for a human went unanswered too.
    assert!(found.contains(&(3, cancel.clone(), [0, 1, 3])), "{body}");
    let c3 = &body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["handed_off"] == 1)
        .unwrap()["conversations"];
    assert_eq!(c3.as_array().unwrap().len(), 3, "{c3}");

    // A stricter threshold leaves the 0.45 answer out; the erased visitor's question goes.
    let (status, body) = app
        .api()
        .set_bot_settings("w", json!({"low_confidence": 0.4}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .api()
        .erase_subject(json!({"customer_id": "cust-6", "website_id": "w"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = app.api().bot_quality(range).await;
    let found = groups(&body);
    assert!(
        found.contains(&(2, shipping[1..].to_vec(), [2, 0, 0])),
        "{body}"
    );
    assert!(
        found.contains(&(2, cancel[1..].to_vec(), [0, 1, 2])),
        "{body}"
    );
    assert!(!body.to_string().contains("please"), "{body}");

    let (status, body) = app.api().bot_quality("limit=0").await;
    assert_eq!(status, 400, "{body}");
}
