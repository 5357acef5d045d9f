//! A scripted mix of sessions (widget loads, engagement, messages, CTA clicks, contact forms,
//! ratings, closes) and admin actions goes through the real pipeline while the projector is
//! SIGKILLed a few times. The read models must hold exactly what the script implies, computed
//! here from the script itself, independently of the projector's code.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use e2e::{Stack, WEBSITE};
use schemas::Payload;
use schemas::payloads::{ContactRequestStatusChanged, RequestStatus};
use serde_json::{Value, json};
use uuid::Uuid;

const SESSIONS: u64 = 120;

/// A tiny deterministic generator, so every run scripts the same sessions.
struct Script(u64);

impl Script {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[derive(Debug, Default, PartialEq)]
struct Expected {
    status: &'static str,
    user: i64,
    bot: i64,
    cta: i64,
    rating: Option<i64>,
}

#[derive(Debug, Default, PartialEq)]
struct Day {
    widget_loads: i64,
    engaged: i64,
    user: i64,
    bot: i64,
    cta: i64,
    requests: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_models_hold_exactly_what_a_scripted_session_mix_implies() {
    let mut stack = Stack::start(12).await;
    let mut script = Script(2026);
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let mut events: Vec<Value> = Vec::new();
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    let mut days: BTreeMap<chrono::NaiveDate, Day> = BTreeMap::new();
    let mut requests: Vec<(String, DateTime<Utc>)> = Vec::new();

    for s in 0..SESSIONS {
        let conversation = format!("mix-{s}");
        // Sessions spread over three days.
        let start = base + Span::minutes((s * 37) as i64);
        // Each event counts on its own day, as the read model counts it.
        let on = |seconds: i64| (start + Span::seconds(seconds)).date_naive();
        let at = |seconds: i64| (start + Span::seconds(seconds)).to_rfc3339();
        let mut e = Expected {
            status: "loaded",
            ..Expected::default()
        };
        events.push(json!({"event_id": Uuid::new_v4(), "type": "widget.loaded", "conversation_id": conversation,
                           "occurred_at": at(0), "payload": {"page_url": "https://shop.example/"}}));
        days.entry(on(0)).or_default().widget_loads += 1;
        if script.next(3) > 0 {
            e.status = "active";
            days.entry(on(1)).or_default().engaged += 1;
            events.push(
                json!({"event_id": Uuid::new_v4(), "type": "conversation.started",
                               "conversation_id": conversation, "occurred_at": at(1)}),
            );
            let turns = 1 + script.next(4) as i64;
            for t in 0..turns {
                events.push(json!({"event_id": Uuid::new_v4(), "type": "message.sent", "conversation_id": conversation,
                                   "occurred_at": at(10 + t * 10), "payload": {"sender": "user", "text": "question"}}));
                events.push(json!({"event_id": Uuid::new_v4(), "type": "message.sent", "conversation_id": conversation,
                                   "occurred_at": at(15 + t * 10),
                                   "payload": {"sender": "bot", "text": "answer", "response_time_ms": 700}}));
            }
            (e.user, e.bot) = (turns, turns);
            for t in 0..turns {
                days.entry(on(10 + t * 10)).or_default().user += 1;
                days.entry(on(15 + t * 10)).or_default().bot += 1;
            }
            if script.next(2) == 0 {
                events.push(json!({"event_id": Uuid::new_v4(), "type": "cta.clicked", "conversation_id": conversation,
                                   "occurred_at": at(100), "payload": {"label": "Book a demo"}}));
                e.cta = 1;
                days.entry(on(100)).or_default().cta += 1;
            }
            if script.next(3) == 0 {
                let request = format!("req-{s}");
                events.push(json!({"event_id": Uuid::new_v4(), "type": "contact.submitted", "conversation_id": conversation,
                                   "occurred_at": at(110),
                                   "payload": {"request_id": request, "email": format!("visitor{s}@example.com")}}));
                requests.push((request, start + Span::seconds(200)));
                days.entry(on(110)).or_default().requests += 1;
            }
            if script.next(2) == 0 {
                let rating = 1 + script.next(5) as i64;
                events.push(json!({"event_id": Uuid::new_v4(), "type": "conversation.rated", "conversation_id": conversation,
                                   "occurred_at": at(120), "payload": {"rating": rating}}));
                e.rating = Some(rating);
            }
            if script.next(2) == 0 {
                events.push(json!({"event_id": Uuid::new_v4(), "type": "conversation.closed", "conversation_id": conversation,
                                   "occurred_at": at(130), "payload": {"reason": "user"}}));
                e.status = "closed";
            }
        }
        expected.insert(conversation, e);
    }

    // Admin actions: every other request is contacted; of those, a second admin who still saw
    // it pending tries to resolve it and must be rejected as stale.
    let mut admin = Vec::new();
    let mut expected_requests: BTreeMap<String, &'static str> = BTreeMap::new();
    for (i, (request, at)) in requests.iter().enumerate() {
        let change = |status, expected_status, seconds| {
            schemas::testing::event(
                WEBSITE,
                "admin",
                *at + Span::seconds(seconds),
                Payload::ContactRequestStatusChanged(ContactRequestStatusChanged {
                    request_id: request.clone(),
                    status,
                    expected_status,
                    notes: None,
                }),
            )
        };
        if i % 2 == 0 {
            admin.push(change(RequestStatus::Contacted, RequestStatus::Pending, 0));
            admin.push(change(RequestStatus::Resolved, RequestStatus::Pending, 5));
            expected_requests.insert(request.clone(), "contacted");
        } else {
            expected_requests.insert(request.clone(), "pending");
        }
    }

    // Send it all in batches of 50, killing the projector three times on the way.
    let ids: Vec<Uuid> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let chunks: Vec<&[Value]> = events.chunks(50).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let response = stack.post_events(&json!({"batch": chunk})).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        if i % (chunks.len() / 3).max(1) == 1 {
            stack.kill_projector().await;
            stack.start_projector();
        }
    }
    stack.produce(&admin).await;
    let admin_ids: Vec<Uuid> = admin.iter().map(|e| e.event_id).collect();
    stack.wait_for_events(&ids, Duration::from_secs(120)).await;
    stack
        .wait_for_events(&admin_ids, Duration::from_secs(120))
        .await;

    // Conversations.
    let rows: Vec<(String, String, i64, i64, i64, Option<i16>)> = sqlx::query_as(
        "SELECT conversation_id, status, user_messages, bot_messages, cta_clicks, rating FROM conversations",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let actual: BTreeMap<String, Expected> = rows
        .into_iter()
        .map(|(id, status, user, bot, cta, rating)| {
            let status = match status.as_str() {
                "loaded" => "loaded",
                "active" => "active",
                "closed" => "closed",
                other => panic!("unknown status {other}"),
            };
            (
                id,
                Expected {
                    status,
                    user,
                    bot,
                    cta,
                    rating: rating.map(i64::from),
                },
            )
        })
        .collect();
    assert_eq!(actual, expected);

    // Daily statistics.
    let rows: Vec<(chrono::NaiveDate, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, widget_loads, engaged_conversations, user_messages, bot_messages, cta_clicks, contact_requests
         FROM daily_stats ORDER BY day",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let actual: BTreeMap<chrono::NaiveDate, Day> = rows
        .into_iter()
        .map(|(d, widget_loads, engaged, user, bot, cta, requests)| {
            (
                d,
                Day {
                    widget_loads,
                    engaged,
                    user,
                    bot,
                    cta,
                    requests,
                },
            )
        })
        .collect();
    assert_eq!(actual, days);

    // Contact requests and the admins' work.
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT request_id, status FROM contact_requests")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    let actual: BTreeMap<String, String> = rows.into_iter().collect();
    let expected_requests: BTreeMap<String, String> = expected_requests
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    assert_eq!(actual, expected_requests);
    let (rejected,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM contact_request_changes WHERE outcome = 'rejected'")
            .fetch_one(&stack.pool)
            .await
            .unwrap();
    assert_eq!(
        rejected,
        requests.len().div_ceil(2) as i64,
        "every stale change was rejected"
    );
}
