//! `GET /v1/stats/contacts` against figures worked out by hand from a fortnight of contacts,
//! for a week and the week before; every count opens as exactly the rows it counts.

use chrono::{DateTime, Duration, Utc};
use schemas::payloads::{CloseReason, ContactSubmitted};
use schemas::{Event, Payload, Sender};
use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A conversation started at `start`: the visitor writes, the bot answers after `bot_s`
/// seconds and an agent after `agent_s` (when given), and the visitor leaves `email` (when
/// given) as request `conversation`.
fn conversation(
    id: &str,
    start: &str,
    bot_s: Option<i64>,
    agent_s: Option<i64>,
    email: Option<&str>,
) -> Vec<Event> {
    let t = utc(start);
    let mut events = vec![schemas::testing::message("w", id, t, Sender::User, "Hi")];
    if let Some(s) = bot_s {
        events.push(schemas::testing::message(
            "w",
            id,
            t + Duration::seconds(s),
            Sender::Bot,
            "Hello!",
        ));
    }
    if let Some(s) = agent_s {
        events.push(schemas::testing::message(
            "w",
            id,
            t + Duration::seconds(s),
            Sender::Agent,
            "I can help",
        ));
    }
    if let Some(email) = email {
        events.push(schemas::testing::event(
            "w",
            id,
            t + Duration::seconds(1),
            Payload::ContactSubmitted(ContactSubmitted {
                request_id: Some(id.into()),
                name: None,
                email: Some(email.into()),
                phone: None,
                message: None,
                chat_context: vec![],
            }),
        ));
    }
    events
}

/// The `total` of a list a figure opens as.
async fn opened(app: &TestApp, link: &str) -> i64 {
    let (status, list) = app.get(link).await;
    assert_eq!(status, 200, "{link}: {list}");
    list["total"].as_i64().unwrap()
}

#[tokio::test]
async fn contact_insights_count_by_hand_and_open_as_their_rows() {
    let app = spawn_app().await;
    let mut events = Vec::new();
    // a: first seen before both weeks; back on the 12th, still talking: active, repeat, in
    // an open conversation. The bot answered in 4 s.
    events.extend(conversation(
        "a1",
        "2026-11-01T09:00:00Z",
        None,
        None,
        Some("a@x.example"),
    ));
    events.extend(conversation(
        "a2",
        "2026-11-12T09:00:00Z",
        Some(4),
        None,
        Some("a@x.example"),
    ));
    // b: new on the 11th, closed: the bot in 2 s, an agent in 60 s.
    events.extend(conversation(
        "b1",
        "2026-11-11T09:00:00Z",
        Some(2),
        Some(60),
        Some("b@x.example"),
    ));
    events.push(schemas::testing::closed(
        "w",
        "b1",
        utc("2026-11-11T10:00:00Z"),
        CloseReason::Admin,
    ));
    // c: new in the week before, called back since.
    events.extend(conversation(
        "c1",
        "2026-11-05T09:00:00Z",
        None,
        None,
        Some("c@x.example"),
    ));
    // d: first seen after the week.
    events.extend(conversation(
        "d1",
        "2026-11-20T09:00:00Z",
        None,
        None,
        Some("d@x.example"),
    ));
    // e: new on the 12th, then erased: in no contact figure.
    events.extend(conversation(
        "e1",
        "2026-11-12T12:00:00Z",
        None,
        None,
        Some("e@x.example"),
    ));
    // A visitor who left no contact details.
    events.extend(conversation(
        "anon",
        "2026-11-13T09:00:00Z",
        Some(1),
        None,
        None,
    ));
    app.given(events).await;
    let (status, body) = app
        .api()
        .move_request("c1", "", json!({"status": "contacted"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, e) = app.api().contacts("q=e@x.example").await;
    let e = e["contacts"][0]["contact_id"].as_str().unwrap().to_owned();
    let (status, body) = app.api().erase_contact(&e, "").await;
    assert_eq!(status, 200, "{body}");

    let (status, insights) = app
        .api()
        .contact_insights("website_id=w&from=2026-11-10&to=2026-11-16")
        .await;
    assert_eq!(status, 200, "{insights}");
    let current = &insights["current"];
    let expected = json!({
        "total_contacts": 3,                   // a, b, c
        "new_contacts": 1,                     // b
        "active_contacts": 2,                  // a (a2), b (b1)
        "contacts_in_open_conversations": 1,   // a
        "awaiting_follow_up": 2,               // a and b are pending; c was called
        "repeat_contacts": 1,                  // a
        "repeat_visitor_rate": 0.5,
        "avg_conversations_per_contact": 1.5,  // (2 + 1) / 2
        // Erasure keeps a conversation's counts: e1 still engaged and left details.
        "engaged_conversations": 4,            // a2, b1, e1, anon
        "contact_conversations": 3,            // a2, b1, e1
        "conversion_rate": 0.75,
        "contact_conversations_bot_answered": 2,
        "avg_bot_first_response_ms": 3000.0,   // (4 s + 2 s) / 2
        "contact_conversations_agent_answered": 1,
        "avg_agent_first_response_ms": 60000.0,
    });
    for (name, value) in expected.as_object().unwrap() {
        assert_eq!(&current[name], value, "{name}: {current}");
    }
    assert_eq!(
        current["by_channel"],
        json!([{"channel": "frame", "contacts": 3, "share": 1.0,
            "open": current["by_channel"][0]["open"]}])
    );
    assert_eq!(
        opened(&app, current["by_channel"][0]["open"].as_str().unwrap()).await,
        3
    );

    // The week before: a and c existed, c was new and talking (c1 is open), a still waits.
    let previous = &insights["previous"];
    for (name, value) in [
        ("total_contacts", json!(2)),
        ("new_contacts", json!(1)),
        ("active_contacts", json!(1)),
        ("contacts_in_open_conversations", json!(1)),
        ("awaiting_follow_up", json!(1)),
        ("repeat_contacts", json!(0)),
        ("engaged_conversations", json!(1)),
        ("contact_conversations", json!(1)),
    ] {
        assert_eq!(previous[name], value, "{name}: {previous}");
    }
    assert_eq!(insights["change"]["total_contacts"], 0.5);
    assert_eq!(insights["change"]["repeat_contacts"], Value::Null);

    // Every count opens as exactly what it counts.
    for period in [current, previous] {
        for (name, link) in period["open"].as_object().unwrap() {
            assert_eq!(
                opened(&app, link.as_str().unwrap()).await,
                period[name].as_i64().unwrap(),
                "{name}: {link}"
            );
        }
    }
    let (status, _) = app.get("/v1/contacts?population=new").await;
    assert_eq!(status, 400, "a population needs its range");
    let (status, _) = app
        .get("/v1/contacts?population=everyone&from=2026-11-10&to=2026-11-16")
        .await;
    assert_eq!(status, 400);
}
