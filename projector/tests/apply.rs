//! `apply_batch` against a real Postgres: exactly-once, order tolerance, offsets.
//!
//! Over 500 lines: one test per guarantee of `apply_batch`, sharing this file's fixtures.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use chrono::{DateTime, Utc};
use projector::store::{Derive, apply_batch, apply_isolating, refused_for_data};
use schemas::payloads::{ConversationStarted, WidgetLoaded};
use schemas::testing::at;
use schemas::{Event, Payload, Sender};
use sqlx::PgPool;

mod common;
use common::{
    apply_one_at_a_time, apply_side_by_side, every_read_model_row, fresh_pool, on_partition,
};

fn event(conversation: &str, seconds: i64, payload: Payload) -> Event {
    schemas::testing::event("site", conversation, at(seconds), payload)
}

fn message(conversation: &str, seconds: i64, sender: Sender) -> Event {
    schemas::testing::message(
        "site",
        conversation,
        at(seconds),
        sender,
        &format!("at {seconds}"),
    )
}

/// Conversation rows as comparable tuples.
async fn conversations(
    pool: &PgPool,
) -> Vec<(
    String,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    i64,
)> {
    sqlx::query_as(
        "SELECT conversation_id, status, channel, engaged_at, last_message_at, message_count
         FROM conversations ORDER BY conversation_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn session(conversation: &str, start: i64) -> Vec<Event> {
    vec![
        event(
            conversation,
            start,
            Payload::WidgetLoaded(WidgetLoaded::default()),
        ),
        event(
            conversation,
            start + 1,
            Payload::ConversationStarted(ConversationStarted::default()),
        ),
        message(conversation, start + 2, Sender::User),
        message(conversation, start + 3, Sender::Bot),
        message(conversation, start + 9, Sender::User),
    ]
}

#[tokio::test]
async fn applying_the_same_batch_twice_changes_nothing_the_second_time() {
    let pool = fresh_pool().await;
    let batch = on_partition(&session("c1", 0), 0);
    let first = apply_batch(&pool, "t", &batch, &[(0, 5)]).await.unwrap();
    let rows = conversations(&pool).await;
    let second = apply_batch(&pool, "t", &batch, &[(0, 5)]).await.unwrap();
    assert_eq!((first.applied, first.duplicates), (5, 0));
    assert_eq!((second.applied, second.duplicates), (0, 5));
    assert_eq!(conversations(&pool).await, rows);
    assert_eq!(rows[0].5, 3, "three messages counted once");
}

#[tokio::test]
async fn a_duplicate_inside_one_batch_counts_once() {
    let pool = fresh_pool().await;
    let m = message("c1", 1, Sender::User);
    let outcome = apply_batch(&pool, "t", &on_partition(&[m.clone(), m], 0), &[(0, 2)])
        .await
        .unwrap();
    assert_eq!((outcome.applied, outcome.duplicates), (1, 1));
    assert_eq!(conversations(&pool).await[0].5, 1);
}

#[tokio::test]
async fn the_batch_stores_the_next_offset_of_every_partition_it_read() {
    let pool = fresh_pool().await;
    apply_batch(
        &pool,
        "t",
        &on_partition(&session("c1", 0), 3),
        &[(3, 42), (7, 9)],
    )
    .await
    .unwrap();
    let offsets = projector::store::offsets::load(&pool, "t").await.unwrap();
    assert_eq!(
        (offsets.get(&3), offsets.get(&7), offsets.get(&0)),
        (Some(&42), Some(&9), None)
    );
}

/// A value the decoder let through but Postgres refuses (here a NUL in a message, which the
/// decoder refuses today; any such gap) costs that one event, not its partition: the batch is
/// refused, applied again event by event, and everything else lands exactly as it would have.
#[tokio::test]
async fn an_event_the_read_models_refuse_is_set_aside_and_the_rest_of_its_batch_lands() {
    let pool = fresh_pool().await;
    let mut events = session("c1", 0);
    let mut bad = message("c1", 5, Sender::User);
    if let Payload::MessageSent(m) = &mut bad.payload {
        m.text = "a\0b".into();
    }
    events.insert(1, bad);
    events.push(message("c1", 9, Sender::Bot));
    let batch = on_partition(&events, 0);
    let error = apply_batch(&pool, "t", &batch, &[(0, 10)])
        .await
        .unwrap_err();
    assert!(refused_for_data(&error), "{error}");

    let isolated = apply_isolating(
        pool.begin().await.unwrap(),
        "t",
        &batch,
        &[(0, 10)],
        Derive::Now,
    )
    .await
    .unwrap();
    let refused: Vec<usize> = isolated.refused.iter().map(|r| r.index).collect();
    assert_eq!(refused, vec![1], "{:?}", isolated.refused);
    assert!(isolated.refused[0].reason.contains("refused"));
    assert_eq!(isolated.outcome.applied, events.len() - 1);
    isolated.commit().await.unwrap();

    // The same tables as the batch without the refused event, offsets included.
    let expected = fresh_pool().await;
    let mut good = batch.clone();
    good.remove(1);
    apply_batch(&expected, "t", &good, &[(0, 10)])
        .await
        .unwrap();
    assert_eq!(
        every_read_model_row(&pool).await,
        every_read_model_row(&expected).await
    );
    let offsets = projector::store::offsets::load(&pool, "t").await.unwrap();
    assert_eq!(offsets.get(&0), Some(&10));
}

/// A session with every kind of visitor event a conversation folds.
fn full_session(conversation: &str, start: i64) -> Vec<Event> {
    use schemas::payloads::{CloseReason, ConversationClosed, ConversationRated, CtaClicked};
    let mut events = session(conversation, start);
    events.extend([
        event(
            conversation,
            start + 4,
            Payload::CtaClicked(CtaClicked {
                cta_id: None,
                customer_id: None,
                label: "Book".into(),
                value: None,
            }),
        ),
        event(
            conversation,
            start + 5,
            Payload::ConversationRated(ConversationRated {
                rating: 2,
                comment: Some("meh".into()),
            }),
        ),
        event(
            conversation,
            start + 6,
            Payload::ConversationRated(ConversationRated {
                rating: 5,
                comment: None,
            }),
        ),
        event(
            conversation,
            start + 20,
            Payload::ConversationClosed(ConversationClosed {
                reason: CloseReason::Inactivity,
            }),
        ),
    ]);
    events
}

/// Every column of every conversation and of every row of the statistics' quarter hours, as
/// JSON text, in a stable order.
async fn every_conversation_column(pool: &PgPool) -> Vec<String> {
    sqlx::query_as::<_, (String,)>(
        "SELECT to_jsonb(c)::text FROM conversations c
         UNION ALL SELECT to_jsonb(s)::text FROM started_quarters s
         UNION ALL SELECT to_jsonb(v)::text FROM visitor_quarters v
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(row,)| row)
    .collect()
}

#[tokio::test]
async fn any_interleaving_of_the_same_events_converges_to_the_same_rows() {
    let events: Vec<Event> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .flat_map(|(i, c)| full_session(c, i as i64 * 100))
        .collect();
    let mut results = Vec::new();
    // Forward, backward, and a few deterministic shuffles, each applied in batches of 4.
    let mut orders: Vec<Vec<usize>> = vec![
        (0..events.len()).collect(),
        (0..events.len()).rev().collect(),
    ];
    for seed in [7u64, 31, 1234] {
        let mut order: Vec<usize> = (0..events.len()).collect();
        let mut state = seed;
        for i in (1..order.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        orders.push(order);
    }
    for order in orders {
        let pool = fresh_pool().await;
        let shuffled: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
        for chunk in on_partition(&shuffled, 0).chunks(4) {
            apply_batch(&pool, "t", chunk, &[(0, chunk.last().unwrap().offset + 1)])
                .await
                .unwrap();
        }
        results.push((
            every_conversation_column(&pool).await,
            conversations(&pool).await,
        ));
    }
    assert!(
        results.windows(2).all(|w| w[0].0 == w[1].0),
        "{:#?}",
        results.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    let a = &results[0].1[0];
    assert_eq!(
        (a.1.as_str(), a.3, a.4, a.5),
        ("closed", Some(at(1)), Some(at(9)), 3)
    );
    let row: serde_json::Value = results[0]
        .0
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap())
        .find(|r| r["conversation_id"] == "a")
        .unwrap();
    assert_eq!(
        (row["rating"].as_i64(), row["cta_clicks"].as_i64()),
        (Some(5), Some(1))
    );
    assert_eq!(
        (row["user_messages"].as_i64(), row["bot_messages"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        row["rating_comment"],
        serde_json::Value::Null,
        "the later rating had no comment"
    );
    assert_eq!(row["close_reason"], "inactivity");
}

fn submitted(request: &str, seconds: i64) -> Event {
    use schemas::payloads::{ChatLine, ContactSubmitted};
    let mut e = event(
        "conv-r",
        seconds,
        Payload::ContactSubmitted(ContactSubmitted {
            request_id: Some(request.into()),
            name: Some("Olivia Bennett".into()),
            email: Some("olivia@lumoco.dev".into()),
            phone: None,
            message: Some("Call me".into()),
            chat_context: vec![ChatLine {
                text: "Hey there!".into(),
                is_user: false,
                timestamp: None,
            }],
        }),
    );
    e.context.ip = Some("203.0.113.9".parse().unwrap());
    e.context.user_agent = Some("Mozilla/5.0".into());
    e
}

fn status_changed(
    request: &str,
    seconds: i64,
    expected: schemas::payloads::RequestStatus,
    status: schemas::payloads::RequestStatus,
) -> Event {
    use schemas::payloads::ContactRequestStatusChanged;
    event(
        "conv-r",
        seconds,
        Payload::ContactRequestStatusChanged(ContactRequestStatusChanged {
            request_id: request.into(),
            status,
            expected_status: expected,
            notes: Some(format!("note {seconds}")),
        }),
    )
}

async fn request_state(
    pool: &PgPool,
) -> (
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
) {
    sqlx::query_as("SELECT status, notes, contacted_at, resolved_at FROM contact_requests WHERE request_id = 'r1'")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn outcomes(pool: &PgPool) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT outcome, reason FROM contact_request_changes ORDER BY occurred_at, event_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A request and a change of its status come in different conversations, so two workers can
/// apply them at once: whichever comes first, the status ends as if they had been applied in
/// turn.
#[tokio::test]
async fn a_request_and_its_status_change_applied_at_once_meet() {
    use schemas::payloads::RequestStatus::{Contacted, Pending};
    for change_first in [false, true] {
        let pool = fresh_pool().await;
        let request = on_partition(&[submitted("r1", 1)], 0);
        let mut change = status_changed("r1", 2, Pending, Contacted);
        change.conversation_id = "admin".into();
        let change = on_partition(&[change], 1);
        let (first, second) = if change_first {
            (change, request)
        } else {
            (request, change)
        };
        assert_eq!(apply_side_by_side(&pool, first, second).await, (0, 0));
        let status: String =
            sqlx::query_scalar("SELECT status FROM contact_requests WHERE request_id = 'r1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(
            status, "contacted",
            "the change applied first: {change_first}"
        );
    }
}

#[tokio::test]
async fn a_contact_request_keeps_what_the_visitor_sent_and_starts_pending() {
    let pool = fresh_pool().await;
    apply_batch(&pool, "t", &on_partition(&[submitted("r1", 1)], 0), &[])
        .await
        .unwrap();
    let row: (String, String, String, serde_json::Value, String) = sqlx::query_as(
        "SELECT status, email, ip_address, chat_context, user_agent FROM contact_requests WHERE request_id = 'r1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (row.0.as_str(), row.1.as_str(), row.2.as_str()),
        ("pending", "olivia@lumoco.dev", "203.0.113.9")
    );
    assert_eq!(row.3[0]["text"], "Hey there!");
    assert_eq!(row.4, "Mozilla/5.0");
}

/// A later submission from another conversation naming an existing request id, dated as far
/// back as a client likes, cannot take the request over: with its retries, it becomes one
/// request of its own, pending whatever admins did to the id it named. Applied in every order
/// one at a time, and in one batch, the result is the same.
#[tokio::test]
async fn a_request_belongs_to_its_first_submitter_whatever_the_others_claim() {
    use schemas::payloads::RequestStatus::{Contacted, Pending};
    let victim = submitted("r1", 100);
    let impostor = |received_after: i64, email: &str| {
        let mut e = submitted("r1", 0);
        e.conversation_id = "conv-impostor".into();
        e.occurred_at = chrono::DateTime::UNIX_EPOCH;
        e.received_at = victim.received_at + chrono::Duration::seconds(received_after);
        if let Payload::ContactSubmitted(c) = &mut e.payload {
            c.email = Some(email.into());
        }
        e
    };
    let first = impostor(60, "impostor@example.com");
    let retry = impostor(120, "retry@example.com");
    let contacted = status_changed("r1", 200, Pending, Contacted);
    let events = [victim.clone(), first.clone(), retry, contacted];
    let orders = permutations(&events);
    assert_eq!(orders.len(), 24);
    let own =
        projector::projections::contact_requests::own_request_id("site", "r1", "conv-impostor");
    // In conversation order: the impostor's first submission under an id of its own, pending;
    // the request still hers, contacted.
    let expected = vec![
        (
            own,
            "conv-impostor".to_owned(),
            "impostor@example.com".to_owned(),
            first.event_id,
            "pending".to_owned(),
        ),
        (
            "r1".to_owned(),
            "conv-r".to_owned(),
            "olivia@lumoco.dev".to_owned(),
            victim.event_id,
            "contacted".to_owned(),
        ),
    ];
    let one_batch = fresh_pool().await;
    apply_batch(&one_batch, "t", &on_partition(&events, 0), &[])
        .await
        .unwrap();
    assert_eq!(requests(&one_batch).await, expected, "in one batch");
    for order in orders {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, &order).await;
        let names: Vec<_> = order.iter().map(|e| e.event_id).collect();
        assert_eq!(requests(&pool).await, expected, "in the order {names:?}");
    }
}

/// A change an admin made to a request that then moves to another id (its conversation's
/// earliest form arrived late and took back the id it named) waits like a change to a request
/// not seen yet: the same outcome in every order.
#[tokio::test]
async fn a_change_to_a_request_that_moved_away_waits_in_every_order() {
    use schemas::payloads::RequestStatus::{Contacted, Pending};
    let first = submitted("r1", 100);
    let form = |conversation: &str, received_after: i64| {
        let mut e = submitted("r1", 0);
        e.conversation_id = conversation.into();
        e.received_at = first.received_at + chrono::Duration::seconds(received_after);
        e
    };
    // Conversation b's first form came before a's; its second after.
    let (a, b_early, b_late) = (form("a", 0), form("b", -10), form("b", 60));
    let own_b = projector::projections::contact_requests::own_request_id("site", "r1", "b");
    let change = status_changed(&own_b, 200, Pending, Contacted);
    let events = [a.clone(), b_late, change, b_early.clone()];
    let own_a = projector::projections::contact_requests::own_request_id("site", "r1", "a");
    for order in permutations(&events) {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, &order).await;
        let rows: Vec<(String, String, uuid::Uuid)> = sqlx::query_as(
            "SELECT request_id, conversation_id, event_id FROM contact_requests ORDER BY 2",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let names: Vec<_> = order.iter().map(|e| e.event_id).collect();
        assert_eq!(
            rows,
            [
                (own_a.clone(), "a".to_owned(), a.event_id),
                ("r1".to_owned(), "b".to_owned(), b_early.event_id)
            ],
            "in the order {names:?}"
        );
        assert_eq!(
            outcomes(&pool).await,
            [(None, None)],
            "in the order {names:?}"
        );
    }
}

/// Two events of one conversation in the same microsecond, the later by the nanosecond with the
/// smaller id, read from the topic as the projector reads them: together in one batch or apart in
/// two, in either order, the conversation starts with the same event (the smaller id, as in
/// Postgres) and every row is the same. A rebuild, which batches differently, found the live
/// version's origin event differing from its own.
#[tokio::test]
async fn events_in_the_same_microsecond_give_the_same_rows_however_they_are_batched() {
    let loaded = |nanos: u32, id: u128| {
        let mut e = event("a", 0, Payload::WidgetLoaded(WidgetLoaded::default()));
        e.occurred_at += chrono::TimeDelta::nanoseconds(nanos.into());
        e.received_at = e.occurred_at;
        e.event_id = uuid::Uuid::from_u128(id);
        e.context.page_url = Some(format!("https://x.example/{id}"));
        Event::decode(&e.encode().unwrap()).unwrap()
    };
    let (first, second) = (loaded(900, 1), loaded(100, 2));
    let mut results = Vec::new();
    for order in permutations(&[first.clone(), second.clone()]) {
        for together in [true, false] {
            let pool = fresh_pool().await;
            let batches = if together {
                vec![order.clone()]
            } else {
                order.iter().map(|e| vec![e.clone()]).collect()
            };
            for batch in batches {
                apply_batch(&pool, "t", &on_partition(&batch, 0), &[(0, 1)])
                    .await
                    .unwrap();
            }
            let origin: (uuid::Uuid, Option<String>) =
                sqlx::query_as("SELECT origin_event, page_url FROM conversations")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(
                origin,
                (first.event_id, first.context.page_url.clone()),
                "together: {together}"
            );
            results.push(every_conversation_column(&pool).await);
        }
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:#?}");
}

/// Every order of `items`.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.is_empty() {
        return vec![Vec::new()];
    }
    (0..items.len())
        .flat_map(|i| {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            permutations(&rest).into_iter().map(move |mut order| {
                order.insert(0, first.clone());
                order
            })
        })
        .collect()
}

/// The contact requests: id, conversation, email, submission, status.
async fn requests(pool: &PgPool) -> Vec<(String, String, String, uuid::Uuid, String)> {
    sqlx::query_as(
        "SELECT request_id, conversation_id, email, event_id, status
         FROM contact_requests ORDER BY conversation_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn status_changes_arriving_before_their_request_converge_to_the_in_order_state() {
    use schemas::payloads::RequestStatus::*;
    let events = [
        submitted("r1", 1),
        status_changed("r1", 2, Pending, Contacted),
        status_changed("r1", 3, Pending, Resolved), // a second admin who still saw pending
        status_changed("r1", 4, Contacted, Resolved),
    ];
    let in_order = fresh_pool().await;
    apply_one_at_a_time(&in_order, &events).await;
    let reversed = fresh_pool().await;
    apply_one_at_a_time(&reversed, events.iter().rev()).await;
    let expected = request_state(&in_order).await;
    assert_eq!(expected, request_state(&reversed).await);
    assert_eq!(
        (expected.0.as_str(), expected.1.as_deref()),
        ("resolved", Some("note 4"))
    );
    assert_eq!((expected.2, expected.3), (Some(at(2)), Some(at(4))));
    let expected_outcomes = vec![
        (Some("applied".to_owned()), None),
        (
            Some("rejected".to_owned()),
            Some("stale: expected pending but the request was contacted".to_owned()),
        ),
        (Some("applied".to_owned()), None),
    ];
    assert_eq!(outcomes(&in_order).await, expected_outcomes);
    assert_eq!(outcomes(&reversed).await, expected_outcomes);
}

#[tokio::test]
async fn a_change_for_a_request_not_seen_yet_waits_without_an_outcome() {
    use schemas::payloads::RequestStatus::*;
    let pool = fresh_pool().await;
    apply_batch(
        &pool,
        "t",
        &on_partition(&[status_changed("r1", 2, Pending, Contacted)], 0),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(outcomes(&pool).await, vec![(None, None)]);
}

/// A row of `started_quarters`: quarter, conversations, engaged ones, user messages.
type Started = (DateTime<Utc>, i64, i64, i64);
/// A row of `visitor_quarters`: quarter, since, visits.
type Visits = (DateTime<Utc>, String, i64);

/// What the statistics' quarter hours hold, in order.
async fn quarter_hours(pool: &PgPool) -> (Vec<Started>, Vec<Visits>) {
    let started = sqlx::query_as(
        "SELECT quarter, conversations, engaged_conversations, user_messages
         FROM started_quarters ORDER BY quarter",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let visits = sqlx::query_as(
        "SELECT quarter, since::text, visits FROM visitor_quarters ORDER BY quarter, since",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (started, visits)
}

/// The quarter hour (UTC) `seconds` after the fixtures' epoch falls in.
fn quarter(seconds: i64) -> DateTime<Utc> {
    let t = at(seconds);
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(900), 0).unwrap()
}

#[tokio::test]
async fn a_late_event_moves_a_conversation_to_the_quarter_hour_it_started_in() {
    let pool = fresh_pool().await;
    const DAY: i64 = 86_400;
    // A user message on day 2 starts and engages the conversation ...
    apply_batch(
        &pool,
        "t",
        &on_partition(&[message("c1", DAY + 10, Sender::User)], 0),
        &[],
    )
    .await
    .unwrap();
    let (started, visits) = quarter_hours(&pool).await;
    assert_eq!(started, vec![(quarter(DAY + 10), 1, 1, 1)]);
    assert_eq!(visits, vec![(quarter(DAY + 10), "-infinity".to_owned(), 1)]);
    // ... until a conversation.started from day 1 arrives late: the whole conversation moves,
    // and nothing is left where it was.
    let started = event(
        "c1",
        10,
        Payload::ConversationStarted(ConversationStarted::default()),
    );
    apply_batch(&pool, "t", &on_partition(&[started], 1), &[])
        .await
        .unwrap();
    let (started, visits) = quarter_hours(&pool).await;
    assert_eq!(started, vec![(quarter(10), 1, 1, 1)]);
    assert_eq!(visits, vec![(quarter(10), "-infinity".to_owned(), 1)]);
    let noted: i64 = sqlx::query_scalar("SELECT count(*) FROM conversation_changes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(noted, 0, "a batch folds in every change it noted");
}

#[tokio::test]
async fn a_conversation_counts_once_in_its_quarter_hour_however_many_events() {
    let pool = fresh_pool().await;
    apply_batch(&pool, "t", &on_partition(&session("c1", 0), 0), &[])
        .await
        .unwrap();
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT conversations, loaded_conversations, user_messages, bot_messages,
                (SELECT sum(visits)::int8 FROM visitor_quarters)
         FROM started_quarters",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1, 2, 1, 1));
}

fn flag(message_ref: &str, seconds: i64, replied: bool) -> Event {
    use schemas::payloads::MessageRef;
    let r = MessageRef {
        message_id: message_ref.into(),
    };
    let payload = if replied {
        Payload::MessageHumanReplied(r)
    } else {
        Payload::MessageFlaggedForHuman(r)
    };
    event("c1", seconds, payload)
}

async fn message_flags_state(pool: &PgPool) -> (bool, bool, bool) {
    sqlx::query_as(
        "SELECT m.requires_human, m.human_replied, c.requires_human
         FROM messages m JOIN conversations c USING (website_id, conversation_id)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn flags_mark_their_message_and_conversation_whichever_arrives_first() {
    let mut msg = message("c1", 1, Sender::Bot);
    if let Payload::MessageSent(m) = &mut msg.payload {
        m.message_id = Some("m-1".into());
    }
    let events = [msg, flag("m-1", 5, false), flag("m-1", 9, true)];
    for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order.iter().map(|&i| &events[i])).await;
        assert_eq!(
            message_flags_state(&pool).await,
            (true, true, true),
            "order {order:?}"
        );
    }
}

#[tokio::test]
async fn a_flag_may_name_the_message_by_its_event_id() {
    let pool = fresh_pool().await;
    let msg = message("c1", 1, Sender::Bot);
    let by_event_id = flag(&msg.event_id.to_string(), 2, false);
    apply_batch(&pool, "t", &on_partition(&[msg, by_event_id], 0), &[])
        .await
        .unwrap();
    assert_eq!(message_flags_state(&pool).await, (true, false, true));
}

#[tokio::test]
async fn the_latest_privacy_setting_of_a_website_wins_in_either_order() {
    let change = |seconds: i64, anonymize_ip: bool| {
        schemas::testing::event(
            "shop",
            "shop",
            at(seconds),
            Payload::WebsitePrivacyChanged(schemas::payloads::WebsitePrivacy {
                website_id: "shop".into(),
                anonymize_ip,
                retention_days: None,
                contact_review_months: None,
                record_country: None,
            }),
        )
    };
    let (on, off) = (change(10, true), change(20, false));
    for order in [[&on, &off], [&off, &on]] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order).await;
        let setting: bool = sqlx::query_scalar(
            "SELECT anonymize_ip FROM website_privacy WHERE website_id = 'shop'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(!setting, "the change at 20 s turned it off");
    }
}

fn asking(conversation: &str, seconds: i64, sender: Sender) -> Event {
    let mut msg = message(conversation, seconds, sender);
    if let Payload::MessageSent(m) = &mut msg.payload {
        m.requires_human = true;
    }
    msg
}

fn closed(conversation: &str, seconds: i64, reason: schemas::payloads::CloseReason) -> Event {
    schemas::testing::closed("site", conversation, at(seconds), reason)
}

/// `(conversation, bot first response, agent first response, handoff at, reason, handoff
/// response, resolution, reopens, unanswered)`.
type Facts = (
    String,
    Option<i64>,
    Option<i64>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    i32,
    bool,
);

async fn facts(pool: &PgPool) -> Vec<Facts> {
    sqlx::query_as(
        "SELECT conversation_id, bot_first_response_ms, agent_first_response_ms, handoff_at,
                handoff_reason, handoff_response_ms, resolution_ms, reopens, unanswered
         FROM conversations ORDER BY conversation_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn response_handoff_and_resolution_facts_follow_the_messages_in_any_order() {
    use schemas::payloads::CloseReason;
    let mut flagged = message("b", 3, Sender::Bot);
    if let Payload::MessageSent(m) = &mut flagged.payload {
        m.message_id = Some("b-3".into());
    }
    let mut flag_b = flag("b-3", 5, false);
    flag_b.conversation_id = "b".into();
    let events = vec![
        // a: answered by the bot, asks for a human, an agent answers, closed, reopened, closed
        // again after a visitor message nobody answered.
        event("a", 0, Payload::WidgetLoaded(WidgetLoaded::default())),
        message("a", 10, Sender::User),
        message("a", 13, Sender::Bot),
        asking("a", 20, Sender::User),
        message("a", 50, Sender::Agent),
        closed("a", 60, CloseReason::User),
        message("a", 100, Sender::User),
        closed("a", 110, CloseReason::Admin),
        // b: a greeting before the visitor wrote does not count as a response; an admin flags
        // the bot's answer; no human replies; still open.
        message("b", 0, Sender::Bot),
        message("b", 1, Sender::User),
        flagged,
        flag_b,
    ];
    let expected = vec![
        (
            "a".to_owned(),
            Some(3_000),
            Some(40_000),
            Some(at(20)),
            Some("visitor_asked".to_owned()),
            Some(30_000),
            Some(110_000),
            1,
            true,
        ),
        (
            "b".to_owned(),
            Some(2_000),
            None,
            Some(at(5)),
            Some("admin_flagged".to_owned()),
            None,
            None,
            0,
            false,
        ),
    ];
    let reversed: Vec<Event> = events.iter().rev().cloned().collect();
    for order in [&events, &reversed] {
        let pool = fresh_pool().await;
        apply_one_at_a_time(&pool, order.iter()).await;
        assert_eq!(facts(&pool).await, expected);
        let pool = fresh_pool().await;
        apply_batch(&pool, "t", &on_partition(order, 0), &[])
            .await
            .unwrap();
        assert_eq!(facts(&pool).await, expected);
    }
}

/// A conversation speaks the language most of its visitor's messages were detected in, the
/// first by code on a tie, whatever batches they came in: checked after each message against
/// the messages' own detected languages, counted here.
#[tokio::test]
async fn a_conversation_speaks_the_language_most_of_its_messages_were_detected_in() {
    let said = |seconds: i64, text: &str| {
        schemas::testing::message("site", "a", at(seconds), Sender::User, text)
    };
    let events = [
        said(
            1,
            "Guten Tag, ich möchte gerne wissen, wie viel der Versand nach Deutschland kostet",
        ),
        said(
            2,
            "Bonjour, je voudrais savoir combien coûte la livraison en France, s'il vous plaît",
        ),
        said(
            3,
            "Merci beaucoup, et est-ce que vous livrez aussi le samedi matin à Paris?",
        ),
        message("a", 4, Sender::Bot),
    ];
    let mut seen = Vec::new();
    for split in 1..=events.len() {
        let pool = fresh_pool().await;
        let (earlier, later) = events[..split].split_at(split - 1);
        apply_batch(&pool, "t", &on_partition(earlier, 0), &[])
            .await
            .unwrap();
        apply_one_at_a_time(&pool, later).await;
        let detected: Vec<String> = sqlx::query_scalar(
            "SELECT detected_language FROM messages WHERE detected_language IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for language in &detected {
            *counts.entry(language).or_default() += 1;
        }
        // The most frequent, and of those the first by code (the largest reversed code).
        let most = counts
            .iter()
            .max_by_key(|(code, n)| (**n, std::cmp::Reverse(**code)))
            .map(|(code, _)| code.to_string());
        let conversation: Option<String> =
            sqlx::query_scalar("SELECT detected_language FROM conversations")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(conversation, most, "after {split} messages: {detected:?}");
        seen.push(conversation);
    }
    // German first; a tie with French goes to German (first by code); French once it leads.
    assert_eq!(seen[0], seen[1]);
    assert_ne!(seen[1], seen[2]);
    assert_eq!(seen[2], seen[3]);
    assert!(seen.iter().all(Option::is_some), "{seen:?}");
}

fn cut_off(seconds: i64) -> Event {
    event(
        "site",
        seconds,
        Payload::RetentionApplied(schemas::payloads::RetentionApplied {
            website_id: "site".into(),
            before: at(seconds),
        }),
    )
}

/// Message texts (`messages` and `event_log`), by the second they were sent at.
async fn texts(pool: &PgPool) -> Vec<(i64, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT extract(epoch FROM m.sent_at - $1)::int8, m.text, l.payload->>'text'
         FROM messages m JOIN event_log l USING (event_id, website_id, conversation_id)
         ORDER BY m.sent_at",
    )
    .bind(at(0))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_cut_off_clears_what_lies_before_it_whenever_it_arrived() {
    let pool = fresh_pool().await;
    let batches = [
        vec![
            message("c1", 10, Sender::User),
            message("c1", 50, Sender::Bot),
        ],
        // The first cut-off reaches the message at 10 only.
        vec![cut_off(20)],
        // One arriving late, before the cut-off, is cleared as it lands; one after it stays.
        vec![
            message("c2", 5, Sender::User),
            message("c2", 30, Sender::User),
        ],
        // The second cut-off reaches what lies between the two, and nothing after.
        vec![cut_off(40)],
        vec![message("c3", 60, Sender::User)],
    ];
    for (i, events) in batches.iter().enumerate() {
        let next = i64::try_from(i + 1).unwrap();
        apply_batch(&pool, "t", &on_partition(events, 0), &[(0, next)])
            .await
            .unwrap();
    }
    let kept = |s: i64| Some(format!("at {s}"));
    assert_eq!(
        texts(&pool).await,
        vec![
            (5, None, None),
            (10, None, None),
            (30, None, None),
            (50, kept(50), kept(50)),
            (60, kept(60), kept(60)),
        ]
    );
}
