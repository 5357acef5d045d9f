//! `GET /v1/subjects/export`: everything held about one person, and nothing about anyone else.

use schemas::Payload;
use schemas::payloads::WidgetLoaded;
use serde_json::Value;

use crate::common::{event, message, spawn_app, submitted, two_websites};

fn strings(body: &Value, section: &str, field: &str) -> Vec<String> {
    body[section]
        .as_array()
        .unwrap_or_else(|| panic!("{section} missing: {body}"))
        .iter()
        .map(|r| r[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_email_finds_the_persons_contact_conversations_messages_requests_and_events() {
    let app = spawn_app().await;
    let mut events = two_websites();
    // Olivia comes back in another conversation, typing her address differently.
    events.push(message(
        "a",
        "c9",
        90,
        schemas::Sender::User,
        "It's me again",
    ));
    events.push(submitted("a", "c9", 95, " Olivia@LumoCo.dev ", "req-a2"));
    app.given(events).await;

    let (status, body) = app.api().subject_export("email=OLIVIA@lumoco.dev").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        strings(&body, "contacts", "contact_id"),
        [schemas::contact_keys::email_key("a", "olivia@lumoco.dev")],
        "one contact, both submissions"
    );
    assert_eq!(
        strings(&body, "conversations", "conversation_id"),
        ["c2", "c9"]
    );
    assert_eq!(
        strings(&body, "contact_requests", "request_id"),
        ["req-a", "req-a2"]
    );
    assert_eq!(
        strings(&body, "submissions", "request_id"),
        ["req-a", "req-a2"]
    );
    let texts = strings(&body, "messages", "text");
    assert!(
        texts.contains(&"How much is the Pro plan?".to_owned()),
        "{texts:?}"
    );
    assert!(texts.contains(&"It's me again".to_owned()), "{texts:?}");
    assert_eq!(body["contact_requests"][0]["ip_address"], "203.0.113.9");
    assert!(body["events"].as_array().unwrap().len() >= 6);
    let text = body.to_string();
    for other in [
        "bob@b.example",
        "Book a demo",
        "Hello from b",
        "\"c1\"",
        "\"c3\"",
    ] {
        assert!(!text.contains(other), "someone else's data: {other}");
    }

    // By phone, on website a: the same person (both submissions carried it). The fixture's
    // person on website b has the same number, and is another website's contact.
    let (_, by_phone) = app
        .api()
        .subject_export("phone=%2B482719364&website_id=a")
        .await;
    assert_eq!(
        strings(&by_phone, "contacts", "contact_id"),
        strings(&body, "contacts", "contact_id")
    );
}

#[tokio::test]
async fn a_customer_id_finds_its_conversations_and_a_stranger_finds_nothing() {
    let app = spawn_app().await;
    let mut events = two_websites();
    events.push(event(
        "a",
        "k1",
        100,
        Payload::WidgetLoaded(WidgetLoaded {
            customer_id: Some("cust-42".into()),
            ..WidgetLoaded::default()
        }),
    ));
    events.push(message("a", "k1", 105, schemas::Sender::User, "Order #42?"));
    app.given(events).await;

    let (status, body) = app.api().subject_export("customer_id=cust-42").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(strings(&body, "conversations", "conversation_id"), ["k1"]);
    assert_eq!(strings(&body, "messages", "text"), ["Order #42?"]);
    assert!(body["contacts"].as_array().unwrap().is_empty());

    let (_, nobody) = app.api().subject_export("email=nobody@x.example").await;
    for section in [
        "contacts",
        "conversations",
        "messages",
        "contact_requests",
        "events",
    ] {
        assert!(
            nobody[section].as_array().unwrap().is_empty(),
            "{section}: {nobody}"
        );
    }
}

#[tokio::test]
async fn exactly_one_identifier_and_only_the_tokens_websites() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    assert_eq!(app.api().subject_export("").await.0, 400);
    assert_eq!(
        app.api()
            .subject_export("email=a@b.example&customer_id=c")
            .await
            .0,
        400
    );
    let token = app.token_for(&["a"]).await;
    let (status, body) = app
        .api_as(&token)
        .subject_export("email=bob@b.example")
        .await;
    assert_eq!(status, 200);
    assert!(body["contacts"].as_array().unwrap().is_empty(), "{body}");
    assert_eq!(
        app.api_as(&token)
            .subject_export("email=bob@b.example&website_id=b")
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn an_erasure_request_by_email_erases_the_persons_contact_and_nobody_else() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (status, body) = app
        .api()
        .erase_subject(serde_json::json!({"email": " Olivia@LumoCo.dev"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["erased"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["erased"][0]["status"], "applied");

    let (_, held) = app.api().subject_export("email=olivia@lumoco.dev").await;
    assert!(held["contacts"][0]["erased_at"].is_string(), "{held}");
    let mut held = held;
    // The request echoes the address it was asked about; everything else must be clean.
    held.as_object_mut().unwrap().remove("subject");
    let text = held.to_string();
    for gone in [
        "Olivia Bennett",
        "olivia@lumoco.dev",
        "How much is the Pro plan?",
        "203.0.113.9",
    ] {
        assert!(!text.contains(gone), "{gone} is still held: {text}");
    }
    let (_, bob) = app.api().subject_export("email=bob@b.example").await;
    assert!(bob.to_string().contains("Hello from b"), "{bob}");
}

fn as_customer(mut e: schemas::Event, customer: &str) -> schemas::Event {
    if let Payload::MessageSent(m) = &mut e.payload {
        m.customer_id = Some(customer.into());
    }
    e
}

#[tokio::test]
async fn an_erasure_request_by_customer_id_erases_their_conversations_now_and_later() {
    let app = spawn_app().await;
    let mut events = two_websites();
    events.push(as_customer(
        message("a", "k1", 100, schemas::Sender::User, "Order #42 is late"),
        "cust-42",
    ));
    events.push(submitted("a", "k1", 105, "kim@k.example", "req-k"));
    events.push(as_customer(
        message("a", "k2", 200, schemas::Sender::User, "Kim again"),
        "cust-42",
    ));
    events.push(as_customer(
        message("a", "k9", 300, schemas::Sender::User, "Someone else"),
        "cust-7",
    ));
    app.given(events).await;

    let (status, body) = app
        .api()
        .erase_subject(serde_json::json!({"customer_id": "cust-42"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<&str> = body["erased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["customer.erased", "contact.erased"], "{body}");
    assert!(
        !body.to_string().contains("cust-42"),
        "the events name a key: {body}"
    );

    // Later: an old message that was late, and a new conversation of the same customer.
    app.given(vec![
        as_customer(
            message("a", "k2", 150, schemas::Sender::User, "Kim, late"),
            "cust-42",
        ),
        as_customer(
            message("a", "k3", 400, schemas::Sender::User, "Kim, new"),
            "cust-42",
        ),
    ])
    .await;

    let texts: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT conversation_id, text FROM messages WHERE conversation_id LIKE 'k%' ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        texts,
        vec![
            ("k1".to_owned(), None),
            ("k2".to_owned(), None),
            ("k2".to_owned(), None),
            ("k3".to_owned(), None),
            ("k9".to_owned(), Some("Someone else".to_owned())),
        ]
    );
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT t::text FROM (
            SELECT to_jsonb(c) AS t FROM conversations c UNION ALL
            SELECT to_jsonb(r) FROM contact_requests r UNION ALL
            SELECT to_jsonb(o) FROM contact_observations o UNION ALL
            SELECT to_jsonb(l) FROM event_log l) x",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for gone in ["cust-42", "kim@k.example", "Order #42", "Kim"] {
        let found: Vec<&String> = rows.iter().filter(|r| r.contains(gone)).collect();
        assert!(found.is_empty(), "{gone} still in {found:#?}");
    }
    assert!(
        rows.iter().any(|r| r.contains("cust-7")),
        "another customer stays"
    );
}
