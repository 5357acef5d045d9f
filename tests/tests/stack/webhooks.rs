//! Leads reaching a CRM through webhooks, end to end, with receivers inside the test: a visitor
//! asks for a human, leaves her details twice, rates and closes; an admin erases her. The CRM's
//! receiver answers every first attempt with a 500 (and the first contact message by not
//! answering in time), checks every Standard Webhooks signature itself, and deduplicates by
//! `webhook-id`. Another receiver always fails until its endpoint is disabled, a third answers
//! with a redirect to the cloud metadata address, which is not followed. Then the fault test:
//! projectors and dispatchers are killed while contact forms stream in, and a rebuild runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2e::{ADMIN_TOKEN, Stack, WEBSITE};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    receiver: String,
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
    /// What the receiver answered.
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Received>>>);

impl Log {
    fn of(&self, receiver: &str) -> Vec<Received> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|r| r.receiver == receiver)
            .cloned()
            .collect()
    }
}

/// How each receiver answers: `crm` fails every delivery's first attempt (a 500, or for the
/// first contact message no answer within the dispatcher's timeout); `down` always fails;
/// `moved` redirects to the metadata address.
async fn receive(
    State(log): State<Log>,
    Path(receiver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let body = String::from_utf8(body.to_vec()).unwrap();
    let kind = serde_json::from_str::<Value>(&body).unwrap()["type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let seen_before = log.of(&receiver).iter().any(|r| r.id == id);
    let stall = receiver == "crm" && !seen_before && kind == "contact.created";
    let status = match receiver.as_str() {
        "crm" if seen_before => StatusCode::OK,
        "crm" if stall => StatusCode::OK,
        "crm" => StatusCode::INTERNAL_SERVER_ERROR,
        "moved" => StatusCode::FOUND,
        "ok" => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    log.0.lock().unwrap().push(Received {
        receiver: receiver.clone(),
        id,
        timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
        signature: header("webhook-signature"),
        body,
        status: if stall { 0 } else { status.as_u16() },
    });
    if stall {
        // Longer than the stack's dispatcher waits for an answer.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if status == StatusCode::FOUND {
        return (
            status,
            [("location", "http://169.254.169.254/latest/meta-data/")],
        )
            .into_response();
    }
    status.into_response()
}

/// Standard Webhooks verification, as a receiver does it: the secret's bytes key an
/// HMAC-SHA256 of `id.timestamp.body`, and one of the header's `v1,` signatures must match.
fn verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.signature.split(' ').any(|s| s == expected)
}

async fn register(stack: &Stack, url: &str, kinds: Option<&[&str]>) -> (String, String) {
    let mut body = json!({ "url": url });
    if let Some(kinds) = kinds {
        body["kinds"] = json!(kinds);
    }
    let (status, answer) = stack
        .admin(
            Method::POST,
            &format!("/v1/websites/{WEBSITE}/webhooks"),
            ADMIN_TOKEN,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    (
        answer["endpoint_id"].as_str().unwrap().to_owned(),
        answer["secret"].as_str().unwrap().to_owned(),
    )
}

async fn endpoint(stack: &Stack, id: &str) -> Value {
    let (status, answer) = stack.query(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 200, "{answer}");
    answer["webhook"].clone()
}

async fn deliveries(stack: &Stack, id: &str) -> Vec<Value> {
    let (status, answer) = stack
        .query(&format!("/v1/webhooks/{id}/deliveries?limit=500"))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["deliveries"].as_array().unwrap().clone()
}

/// Waits until `done` holds of the log, or fails with what it holds.
async fn wait_for(log: &Log, what: &str, done: impl Fn(&Log) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done(log) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: never happened; received {:#?}",
            log.0.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The kinds a receiver accepted, each webhook-id once, in the order it accepted them.
fn accepted(log: &Log, receiver: &str) -> Vec<(String, Value)> {
    let mut seen = BTreeSet::new();
    log.of(receiver)
        .into_iter()
        .filter(|r| (200..300).contains(&r.status) && seen.insert(r.id.clone()))
        .map(|r| (r.id.clone(), r.json()))
        .collect()
}

/// Starts the receivers: `POST {base}/{name}` answers as [`receive`] says.
async fn receivers(log: &Log) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/{receiver}", post(receive))
        .with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn leads_reach_the_crm_signed_in_order_at_least_once_and_erasure_follows() {
    let stack = Stack::start_with_dispatcher(4, true).await;
    let log = Log::default();
    let base = receivers(&log).await;

    let (crm, secret) = register(&stack, &format!("{base}/crm"), None).await;
    let (down, _) = register(&stack, &format!("{base}/down"), None).await;
    let (moved, _) = register(
        &stack,
        &format!("{base}/moved"),
        Some(&["conversation.closed"]),
    )
    .await;

    let ada = |conversation: &str, name: &str| {
        json!({"type": "contact.submitted", "conversation_id": conversation,
               "payload": {"name": name, "email": "ada@example.com", "phone": "+44 20 7946 0000",
                           "message": "Please call me about the enterprise plan"}})
    };
    let response = stack
        .post_events(&json!({"batch": [
            {"type": "message.sent", "conversation_id": "ada-1",
             "payload": {"sender": "user", "text": "Can I talk to a person?", "requires_human": true}},
            ada("ada-1", "Ada Lovelace"),
        ]}))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    // A second form, later, in another conversation: the same person, updated.
    wait_for(&log, "the first contact message", |l| {
        l.of("crm").iter().any(|r| r.kind() == "contact.created")
    })
    .await;
    let response = stack
        .post_events(&json!({"batch": [
            ada("ada-2", "Ada King"),
            {"type": "conversation.rated", "conversation_id": "ada-1", "payload": {"rating": 5}},
            {"type": "conversation.closed", "conversation_id": "ada-1", "payload": {"reason": "user"}},
        ]}))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let expected = [
        "contact.created",
        "contact_request.created",
        "contact.updated",
        "contact_request.created",
        "conversation.handed_off",
        "conversation.rated",
        "conversation.closed",
    ];
    wait_for(&log, "every expected message accepted by the CRM", |l| {
        accepted(l, "crm").len() >= expected.len()
    })
    .await;
    let got = accepted(&log, "crm");
    let mut kinds: Vec<&str> = got
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(kinds, want, "the CRM accepted {got:#?}");

    // Every request it got was signed with its secret; every delivery was tried again after a
    // failure, under the same id.
    let all = log.of("crm");
    assert!(all.iter().all(|r| verifies(&secret, r)), "{all:#?}");
    let attempts: BTreeMap<&str, usize> = all.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.id.as_str()).or_default() += 1;
        m
    });
    assert!(attempts.values().all(|n| *n >= 2), "{attempts:?}");
    // The first contact message timed out once, then came again.
    let created = all.iter().find(|r| r.kind() == "contact.created").unwrap();
    assert_eq!(attempts[created.id.as_str()], 2);

    // In order per contact: nothing about Ada was accepted before her creation.
    let position = |kind: &str| got.iter().position(|(_, b)| b["type"] == kind).unwrap();
    let contact_related: Vec<usize> = got
        .iter()
        .enumerate()
        .filter(|(_, (_, b))| {
            let t = b["type"].as_str().unwrap();
            t.starts_with("contact")
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(contact_related.first(), Some(&position("contact.created")));
    // What a CRM needs, in the clear.
    let (_, created_body) = &got[position("contact.created")];
    let contact = &created_body["data"]["contact"];
    assert_eq!(contact["email"], "ada@example.com", "{created_body}");
    assert_eq!(contact["phone"], "+44 20 7946 0000");
    let contact_id = contact["contact_id"].as_str().unwrap().to_owned();
    let (_, updated_body) = &got[position("contact.updated")];
    assert_eq!(
        updated_body["data"]["contact"]["contact_id"],
        contact_id.as_str()
    );
    let request = got
        .iter()
        .find(|(_, b)| b["type"] == "contact_request.created")
        .map(|(_, b)| b["data"]["request"].clone())
        .unwrap();
    assert_eq!(
        request["message"],
        "Please call me about the enterprise plan"
    );
    let (_, handoff) = &got[position("conversation.handed_off")];
    assert_eq!(handoff["data"]["conversation"]["conversation_id"], "ada-1");
    assert_eq!(
        handoff["data"]["conversation"]["handoff_reason"],
        "visitor_asked"
    );

    // The delivery log says the same, and a redelivery comes again under the same id.
    let log_rows = deliveries(&stack, &crm).await;
    assert_eq!(log_rows.len(), expected.len(), "{log_rows:#?}");
    assert!(
        log_rows.iter().all(|d| d["state"] == "delivered"),
        "{log_rows:#?}"
    );
    let first = log_rows
        .iter()
        .find(|d| d["kind"] == "contact.created")
        .unwrap();
    assert_eq!(first["attempt_log"].as_array().unwrap().len(), 2);
    assert_eq!(first["attempt_log"][0]["status"], Value::Null);
    let id = first["delivery_id"].as_str().unwrap();
    let before = log.of("crm").iter().filter(|r| r.id == id).count();
    let (status, answer) = stack
        .admin(
            Method::POST,
            &format!("/v1/webhooks/{crm}/deliveries/{id}/redeliver"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    wait_for(&log, "the redelivery", |l| {
        l.of("crm").iter().filter(|r| r.id == id).count() > before
    })
    .await;

    // A redirect is not followed: the delivery failed at once, naming why.
    wait_for(&log, "the redirect", |l| !l.of("moved").is_empty()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let redirect = loop {
        let rows = deliveries(&stack, &moved).await;
        if rows.iter().any(|d| d["state"] == "failed") {
            break rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(redirect[0]["attempts"], 1, "{redirect:#?}");
    assert!(
        redirect[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{redirect:#?}"
    );

    // An endpoint that never answers well is disabled, and says why; the CRM is not.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let disabled = loop {
        let now = endpoint(&stack, &down).await;
        if !now["disabled_at"].is_null() {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now:#}");
        let (status, answer) = stack
            .admin(
                Method::POST,
                &format!("/v1/webhooks/{down}/test"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{disabled:#}"
    );
    assert!(endpoint(&stack, &crm).await["disabled_at"].is_null());

    // Erasure reaches the CRM: a contact.erased naming her, and after it nothing about her.
    let (status, answer) = stack
        .admin(
            Method::DELETE,
            &format!("/v1/contacts/{contact_id}?website_id={WEBSITE}"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let erased_at = chrono::Utc::now().timestamp();
    wait_for(&log, "the erasure message", |l| {
        accepted(l, "crm")
            .iter()
            .any(|(_, b)| b["type"] == "contact.erased")
    })
    .await;
    let erasure = accepted(&log, "crm")
        .into_iter()
        .find(|(_, b)| b["type"] == "contact.erased")
        .unwrap()
        .1;
    assert_eq!(erasure["data"]["contact_id"], contact_id.as_str());
    assert!(
        !erasure.to_string().contains("ada@example.com"),
        "{erasure}"
    );
    // Every request built after the erasure committed (timestamps are whole seconds) carries
    // nothing of hers, to any receiver; what waited about her for the failing endpoint is
    // dropped, not sent.
    let later: Vec<Received> = log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.timestamp > erased_at + 1)
        .cloned()
        .collect();
    for r in &later {
        for hers in ["ada@example.com", "Lovelace", "Ada King", "7946"] {
            assert!(!r.body.contains(hers), "{r:#?}");
        }
    }
    let waiting: Vec<Value> = deliveries(&stack, &down)
        .await
        .into_iter()
        .filter(|d| d["state"] == "pending" && d["kind"] != "contact.erased")
        .filter(|d| d["subject"]["contact_id"] == contact_id.as_str())
        .collect();
    assert!(waiting.is_empty(), "{waiting:#?}");

    // query-api's metrics say what the receivers saw: every answer they gave counted by what
    // became of its delivery (a stall counts as the timeout it was), the queue as deep as the
    // endpoints' own pending counts, and the one endpoint that was disabled.
    let (status, list) = stack
        .query(&format!("/v1/websites/{WEBSITE}/webhooks"))
        .await;
    assert_eq!(status, 200, "{list}");
    let pending: i64 = list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pending"].as_i64().unwrap())
        .sum();
    assert!(
        pending > 0,
        "the disabled endpoint keeps its deliveries: {list}"
    );
    // A counter not incremented yet is not exposed: zero.
    let value = |text: &str, name: &str| runtime::testing::metric(text, name).unwrap_or(0.0);
    stack
        .wait_for_metrics_of(&stack.query_metrics_url, Duration::from_secs(30), |text| {
            let answered = log.0.lock().unwrap().clone();
            let ok = answered
                .iter()
                .filter(|r| (200..300).contains(&r.status))
                .count() as f64;
            let not_ok = answered.len() as f64 - ok;
            let outcome = |o: &str| {
                value(
                    text,
                    &format!("query_api_webhook_attempts_total{{outcome=\"{o}\"}}"),
                )
            };
            outcome("delivered") == ok
                && outcome("retry") + outcome("failed") == not_ok
                && value(text, "query_api_webhook_queue_depth") == pending as f64
                && value(text, "query_api_webhook_oldest_pending_age_seconds") > 0.0
                && value(text, "query_api_webhook_endpoints_disabled") == 1.0
        })
        .await;
}

/// The fault test's short form; the long form is
/// `COLLOQUY_WEBHOOK_FAULT_FORMS=2000 deploy/dev test -E 'test(/webhooks::deliveries_survive/)'`.
#[tokio::test]
async fn deliveries_survive_killed_projectors_and_dispatchers_and_a_rebuild_sends_nothing_twice() {
    let forms = e2e::setting("COLLOQUY_WEBHOOK_FAULT_FORMS", 150);
    let mut stack = Stack::start_with_dispatcher(4, false).await;
    let log = Log::default();
    let base = receivers(&log).await;
    let kinds = ["contact.created", "contact_request.created"];
    let (endpoint_id, secret) = register(&stack, &format!("{base}/ok"), Some(&kinds)).await;
    let mut dispatchers = [stack.spawn_dispatcher(), stack.spawn_dispatcher()];

    // Contact forms of new people, five at a time, while the faults come.
    let (http, ingest) = (stack.http.clone(), stack.ingest_url.clone());
    let writer = tokio::spawn(async move {
        for first in (0..forms).step_by(5) {
            let batch: Vec<Value> = (first..(first + 5).min(forms))
                .map(|i| {
                    json!({"type": "contact.submitted", "conversation_id": format!("form-{i}"),
                           "payload": {"name": format!("Person {i}"),
                                       "email": format!("person-{i}@example.com")}})
                })
                .collect();
            loop {
                let response = http
                    .post(format!("{ingest}/v1/events"))
                    .header("X-Write-Key", e2e::WRITE_KEY)
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await
                    .unwrap();
                if response.status() == 200 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });

    let mut round = 0;
    let mut rebuilt = false;
    while !writer.is_finished() || round < 4 {
        stack.kill_projector().await;
        let d = round % dispatchers.len();
        dispatchers[d].start_kill().unwrap();
        dispatchers[d].wait().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stack.start_projector();
        dispatchers[d] = stack.spawn_dispatcher();
        tokio::time::sleep(Duration::from_millis(500)).await;
        round += 1;
        if round == 2 {
            // History is replayed into a new version while forms still arrive: it must send
            // nothing again.
            let output = stack.projector_command(&["rebuild"]).await;
            assert!(
                output.status.success(),
                "rebuild failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            rebuilt = true;
        }
    }
    writer.await.unwrap();
    assert!(rebuilt);

    let expected = 2 * forms;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let unique: BTreeSet<String> = log.of("ok").into_iter().map(|r| r.id).collect();
        if unique.len() >= expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {expected} deliveries arrived",
            unique.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Settle: anything unexpected still on its way arrives too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = log.of("ok");
    assert!(received.iter().all(|r| verifies(&secret, r)));
    let unique: BTreeMap<String, Value> =
        received.iter().map(|r| (r.id.clone(), r.json())).collect();
    assert_eq!(unique.len(), expected, "none lost, none unexpected");
    let mut created: Vec<String> = unique
        .values()
        .filter(|b| b["type"] == "contact.created")
        .map(|b| b["data"]["contact"]["email"].as_str().unwrap().to_owned())
        .collect();
    created.sort();
    let mut people: Vec<String> = (0..forms)
        .map(|i| format!("person-{i}@example.com"))
        .collect();
    people.sort();
    assert_eq!(created, people, "one contact.created per person");
    let requests = unique
        .values()
        .filter(|b| b["type"] == "contact_request.created")
        .count();
    assert_eq!(requests, forms);
    // The outbox decided each once, the rebuild included.
    let (decided,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM colloquy.webhook_deliveries WHERE endpoint_id = $1::uuid",
    )
    .bind(&endpoint_id)
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    assert_eq!(decided as usize, expected);
    assert_eq!(stack.live_schema().await, "rm_v2");
    eprintln!(
        "webhook faults: {forms} forms, {round} rounds of SIGKILL (projector and a dispatcher), \
         one rebuild; {expected} deliveries expected, {} distinct received, {} requests in all \
         ({} repeated after a dispatcher died)",
        unique.len(),
        received.len(),
        received.len() - unique.len()
    );
}

/// A request id belongs to its first submitter (docs/security.md): a later form from another
/// conversation naming it is a request of its own, and the CRM hears of that request under the
/// id the API lists it by, with its own person.
#[tokio::test]
async fn a_form_naming_a_taken_request_id_reaches_the_crm_as_a_request_of_its_own() {
    let stack = Stack::start_with_dispatcher(1, true).await;
    let log = Log::default();
    let base = receivers(&log).await;
    register(
        &stack,
        &format!("{base}/ok"),
        Some(&["contact.created", "contact_request.created"]),
    )
    .await;
    for (conversation, email) in [("ada-1", "ada@example.com"), ("bob-1", "bob@example.com")] {
        let response = stack
            .post_events(&json!({"batch": [
                {"type": "contact.submitted", "conversation_id": conversation,
                 "payload": {"request_id": "form-1", "email": email}},
            ]}))
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        // The second is received after the first is applied: the first holds the id.
        stack.wait_until_caught_up(Duration::from_secs(30)).await;
    }
    wait_for(&log, "two people and two requests", |l| {
        accepted(l, "ok").len() >= 4
    })
    .await;
    let got = accepted(&log, "ok");
    let mut people: Vec<&str> = got
        .iter()
        .filter(|(_, b)| b["type"] == "contact.created")
        .map(|(_, b)| b["data"]["contact"]["email"].as_str().unwrap())
        .collect();
    people.sort_unstable();
    assert_eq!(people, ["ada@example.com", "bob@example.com"], "{got:#?}");
    // Each request's conversation and id.
    let ids = |request: &Value| {
        (
            request["conversation_id"].as_str().unwrap().to_owned(),
            request["request_id"].as_str().unwrap().to_owned(),
        )
    };
    let delivered: BTreeMap<String, String> = got
        .iter()
        .filter(|(_, b)| b["type"] == "contact_request.created")
        .map(|(_, b)| ids(&b["data"]["request"]))
        .collect();
    let (status, listed) = stack.query("/v1/contact-requests").await;
    assert_eq!(status, 200, "{listed}");
    let listed: BTreeMap<String, String> = listed["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    assert_eq!(delivered, listed, "{got:#?}");
    assert_eq!(delivered["ada-1"], "form-1");
    assert_ne!(delivered["bob-1"], "form-1");
}

/// A website's own systems naming a visitor (`contact.identified`, a Segment `identify`) make a
/// contact the CRM hears of, and no contact request.
#[tokio::test]
async fn an_identified_visitor_reaches_the_crm_as_a_contact_without_a_request() {
    let stack = Stack::start_with_dispatcher(1, true).await;
    let log = Log::default();
    let base = receivers(&log).await;
    let kinds = [
        "contact.created",
        "contact.updated",
        "contact_request.created",
    ];
    let (_, secret) = register(&stack, &format!("{base}/ok"), Some(&kinds)).await;
    let response = stack
        .post_events(&json!({"batch": [
            {"type": "message.sent", "conversation_id": "grace-1",
             "payload": {"sender": "user", "text": "Hello"}},
            {"type": "contact.identified", "conversation_id": "grace-1",
             "payload": {"customer_id": "cust-grace", "name": "Grace Hopper",
                         "email": "grace@example.com"}},
        ]}))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    wait_for(&log, "contact.created", |l| !accepted(l, "ok").is_empty()).await;
    // Every decision is made in the transaction that applies the events: once the projector
    // caught up, the outbox holds all there will be.
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    let got = accepted(&log, "ok");
    let kinds: Vec<&str> = got
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["contact.created"], "{got:#?}");
    let contact = &got[0].1["data"]["contact"];
    assert_eq!(contact["email"], "grace@example.com");
    assert_eq!(contact["name"], "Grace Hopper");
    assert_eq!(contact["request_count"], 0);
    assert_eq!(got[0].1["data"]["conversation_id"], "grace-1");
    assert!(log.of("ok").iter().all(|r| verifies(&secret, r)));
    // The outbox holds that one delivery: nothing about a request was decided.
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM colloquy.webhook_deliveries")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
