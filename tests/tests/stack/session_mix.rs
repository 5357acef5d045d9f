//! A scripted mix of sessions (widget loads, engagement, messages, CTA clicks, contact forms,
//! ratings, closes), admin actions (request statuses, contact edits, merges, an erasure) and
//! poison records goes through the real pipeline while the projector is SIGKILLed a few times.
//! The read models must hold exactly what the script implies, computed here from the script
//! itself, independently of the projector's code.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use e2e::{Stack, WEBSITE};
use projector::projections::contacts::{email_key, phone_key};
use schemas::Payload;
use schemas::payloads::{
    ContactErased, ContactRequestStatusChanged, ContactUpdated, ContactsMerged, ConversationRated,
    LeadStatus, RequestStatus,
};
use serde_json::{Value, json};
use uuid::Uuid;

const SESSIONS: u64 = 120;
/// How many people submit the contact forms: fewer than the forms, so people come back.
const PEOPLE: u64 = 16;

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

/// One contact form in the script: who sent it, and whether with an e-mail, a phone or both.
struct Submission {
    person: u64,
    email: bool,
    phone: bool,
    conversation: String,
}

fn email_of(person: u64) -> String {
    format!("person{person:02}@example.com")
}

fn phone_of(person: u64) -> String {
    format!("+44 20 7946 {person:04}")
}

fn name_of(person: u64) -> String {
    format!("Visitor-{person:02}-Name")
}

/// A contact as the script implies it.
#[derive(Debug, Default, PartialEq)]
struct ContactState {
    conversations: BTreeSet<String>,
    requests: i64,
    lead_status: String,
    notes: Option<String>,
    erased: bool,
}

#[derive(Debug, Default, PartialEq)]
struct Day {
    loaded: i64,
    engaged: i64,
    user: i64,
    bot: i64,
    cta: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_models_hold_exactly_what_a_scripted_session_mix_implies() {
    let mut stack = Stack::start(12).await;
    let mut script = Script(2026);
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let mut events: Vec<Value> = Vec::new();
    let mut expected_conversations: BTreeMap<String, Expected> = BTreeMap::new();
    let mut days: BTreeMap<chrono::NaiveDate, Day> = BTreeMap::new();
    let mut requests: Vec<(String, DateTime<Utc>)> = Vec::new();
    let mut submissions: Vec<Submission> = Vec::new();

    for s in 0..SESSIONS {
        let conversation = format!("mix-{s}");
        // Sessions spread over three days.
        let start = base + Span::minutes((s * 37) as i64);
        // Every figure of a conversation counts on the day it started (docs/statistics.md).
        let day = start.date_naive();
        let at = |seconds: i64| (start + Span::seconds(seconds)).to_rfc3339();
        let mut e = Expected {
            status: "loaded",
            ..Expected::default()
        };
        events.push(json!({"event_id": Uuid::new_v4(), "type": "widget.loaded", "conversation_id": conversation,
                           "occurred_at": at(0), "payload": {"page_url": "https://shop.example/"}}));
        days.entry(day).or_default().loaded += 1;
        if script.next(3) > 0 {
            e.status = "active";
            days.entry(day).or_default().engaged += 1;
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
            days.entry(day).or_default().user += turns;
            days.entry(day).or_default().bot += turns;
            if script.next(2) == 0 {
                events.push(json!({"event_id": Uuid::new_v4(), "type": "cta.clicked", "conversation_id": conversation,
                                   "occurred_at": at(100), "payload": {"label": "Book a demo"}}));
                e.cta = 1;
                days.entry(day).or_default().cta += 1;
            }
            if script.next(3) == 0 {
                let request = format!("req-{s}");
                let person = script.next(PEOPLE);
                // A phone only, both, or an e-mail only.
                let (email, phone) = match script.next(4) {
                    0 => (false, true),
                    1 => (true, true),
                    _ => (true, false),
                };
                let mut payload = json!({"request_id": request, "name": name_of(person),
                                         "message": "Please get back to me"});
                if email {
                    payload["email"] = json!(email_of(person));
                }
                if phone {
                    payload["phone"] = json!(phone_of(person));
                }
                events.push(json!({"event_id": Uuid::new_v4(), "type": "contact.submitted", "conversation_id": conversation,
                                   "occurred_at": at(110), "payload": payload}));
                submissions.push(Submission {
                    person,
                    email,
                    phone,
                    conversation: conversation.clone(),
                });
                requests.push((request, start + Span::seconds(200)));
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
        expected_conversations.insert(conversation, e);
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

    // Admin actions on contacts, two days after the sessions: two merges, edits (one naming a
    // merged-away id), and one erasure. Expectations are worked out from the script alone.
    let when = base + Span::days(5);
    let admin_event = |seconds, payload| {
        schemas::testing::event(WEBSITE, "admin", when + Span::seconds(seconds), payload)
    };
    let with_email: BTreeSet<u64> = submissions
        .iter()
        .filter(|s| s.email)
        .map(|s| s.person)
        .collect();
    let bridged: BTreeSet<u64> = submissions
        .iter()
        .filter(|s| s.email && s.phone)
        .map(|s| s.person)
        .collect();
    let people: Vec<u64> = with_email.iter().copied().collect();
    assert!(
        people.len() >= 8,
        "the script has too few people: {people:?}"
    );
    let e = |person| email_key(WEBSITE, &email_of(person));
    // Matched by e-mail first, then by phone: a phone-only form joins its person's e-mail
    // contact when some form of theirs carried both.
    let contact_of = |s: &Submission| {
        if s.email || bridged.contains(&s.person) {
            e(s.person)
        } else {
            phone_key(WEBSITE, &phone_of(s.person))
        }
    };
    let merges = [(people[0], people[1]), (people[2], people[3])];
    let erased_person = people[people.len() - 1];
    let mut resolve: BTreeMap<String, String> = BTreeMap::new();
    for (i, (survivor, merged)) in merges.iter().enumerate() {
        admin.push(admin_event(
            i as i64,
            Payload::ContactsMerged(ContactsMerged {
                surviving_contact_id: e(*survivor),
                merged_contact_ids: vec![e(*merged)],
            }),
        ));
        resolve.insert(e(*merged), e(*survivor));
    }
    let mut contacts: BTreeMap<String, ContactState> = BTreeMap::new();
    let mut conversation_contacts: BTreeMap<String, Option<String>> = BTreeMap::new();
    for submission in &submissions {
        let id = contact_of(submission);
        let id = resolve.get(&id).cloned().unwrap_or(id);
        let c = contacts.entry(id.clone()).or_default();
        c.conversations.insert(submission.conversation.clone());
        c.requests += 1;
        conversation_contacts.insert(submission.conversation.clone(), Some(id));
    }
    for c in contacts.values_mut() {
        c.lead_status = if c.conversations.len() > 1 {
            "active"
        } else {
            "new"
        }
        .to_owned();
    }
    let edit = |seconds, contact: String, notes: &str, lead_status| {
        admin_event(
            seconds,
            Payload::ContactUpdated(ContactUpdated {
                contact_id: contact,
                name: None,
                email: None,
                phone: None,
                notes: Some(notes.to_owned()),
                lead_status,
            }),
        )
    };
    // An admin who still has the merged contact open edits it: the survivor gets the note.
    admin.push(edit(10, e(merges[0].1), "edited through the old id", None));
    contacts.get_mut(&e(merges[0].0)).unwrap().notes = Some("edited through the old id".into());
    for &person in &people[4..people.len() - 1] {
        if person % 2 == 0 {
            admin.push(edit(20, e(person), "call back", Some(LeadStatus::FollowUp)));
            let c = contacts.get_mut(&e(person)).unwrap();
            c.notes = Some("call back".into());
            c.lead_status = "follow_up".into();
        }
    }
    admin.push(admin_event(
        30,
        Payload::ContactErased(ContactErased {
            contact_id: e(erased_person),
        }),
    ));
    contacts.get_mut(&e(erased_person)).unwrap().erased = true;
    let erased_conversations = contacts[&e(erased_person)].conversations.clone();

    // Poison between the good events: not JSON, an unknown type, an invalid payload.
    let good = schemas::testing::event(
        WEBSITE,
        "poison",
        base,
        Payload::ConversationRated(ConversationRated {
            rating: 5,
            comment: None,
        }),
    );
    let mut unknown: Value = serde_json::from_slice(&good.encode().unwrap()).unwrap();
    unknown["type"] = json!("no.such.type");
    let mut invalid: Value = serde_json::from_slice(&good.encode().unwrap()).unwrap();
    invalid["payload"]["rating"] = json!(9);
    let poison: Vec<Vec<u8>> = vec![
        b"{not an event".to_vec(),
        unknown.to_string().into_bytes(),
        invalid.to_string().into_bytes(),
    ];

    // Send it all in batches of 50, killing the projector three times on the way.
    let ids: Vec<Uuid> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let chunks: Vec<&[Value]> = events.chunks(50).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let response = stack.post_events(&json!({"batch": chunk})).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        if i == 2 {
            let records = poison
                .iter()
                .map(|p| runtime::kafka::Record::new("poison", p.clone()))
                .collect();
            stack.produce_records(records).await;
        }
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
    assert_eq!(actual, expected_conversations);

    // The statistics' quarter hours, rolled up to UTC days.
    let rows: Vec<(chrono::NaiveDate, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT (quarter AT TIME ZONE 'UTC')::date, sum(loaded_conversations)::int8,
                sum(engaged_conversations)::int8, sum(user_messages)::int8,
                sum(bot_messages)::int8, sum(cta_clicks)::int8
         FROM started_quarters GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let actual: BTreeMap<chrono::NaiveDate, Day> = rows
        .into_iter()
        .map(|(d, loaded, engaged, user, bot, cta)| {
            (
                d,
                Day {
                    loaded,
                    engaged,
                    user,
                    bot,
                    cta,
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

    // Contacts, and the conversations that point to them.
    let rows: Vec<(String, i64, i64, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT contact_id, conversation_count, request_count, lead_status, notes,
                erased_at IS NOT NULL FROM contacts",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let mut actual: BTreeMap<String, ContactState> = BTreeMap::new();
    for (id, conversations, requests, lead_status, notes, erased) in rows {
        let linked: Vec<String> =
            sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE contact_id = $1")
                .bind(&id)
                .fetch_all(&stack.pool)
                .await
                .unwrap();
        let state = ContactState {
            conversations: linked.into_iter().collect(),
            requests,
            lead_status,
            notes,
            erased,
        };
        assert_eq!(state.conversations.len() as i64, conversations, "{id}");
        actual.insert(id, state);
    }
    assert_eq!(actual, contacts);
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT conversation_id, contact_id FROM contact_requests")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    let actual: BTreeMap<String, Option<String>> = rows.into_iter().collect();
    assert_eq!(
        actual, conversation_contacts,
        "requests point to their contacts"
    );

    // The erased person is nowhere; their conversations keep their counts, not their words.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    for table in tables {
        for value in [
            email_of(erased_person),
            phone_of(erased_person),
            name_of(erased_person),
        ] {
            let (found,): (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM {table} t WHERE to_jsonb(t)::text LIKE '%' || $1 || '%'"
            ))
            .bind(&value)
            .fetch_one(&stack.pool)
            .await
            .unwrap();
            assert_eq!(found, 0, "{value} still in {table}");
        }
    }
    let erased_messages: i64 = erased_conversations
        .iter()
        .map(|c| expected_conversations[c].user + expected_conversations[c].bot)
        .sum();
    let (blank,): (i64,) = sqlx::query_as("SELECT count(*) FROM messages WHERE text IS NULL")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(blank, erased_messages);

    // Every poison record is in the dead-letter topic, with where it came from; a kill between
    // dead-lettering and the commit may write one twice, never lose one.
    let dead = e2e::read_records(&stack.kafka, &format!("{}-dlq", stack.topic));
    let dead_values: BTreeSet<&[u8]> = dead.iter().map(|r| r.value.as_slice()).collect();
    let sent: BTreeSet<&[u8]> = poison.iter().map(Vec::as_slice).collect();
    assert_eq!(dead_values, sent);
    for record in &dead {
        assert!(
            record
                .header(schemas::topics::dead_letter_headers::REASON)
                .is_some()
        );
        assert!(
            record
                .header(schemas::topics::dead_letter_headers::SOURCE_OFFSET)
                .is_some()
        );
    }
}
