//! Erasure that survives replay, as a new user would try it: a person chats and leaves a
//! contact request, an admin erases them through the API, a full rebuild replays the topic,
//! and their e-mail, phone, name, address, words and customer id are readable nowhere — not
//! through the API, not in an export, not in any table, not by a plain consumer of the topic,
//! not even with the key store — while the statistics still count what they did.

use std::time::Duration;

use e2e::{ADMIN_TOKEN, Stack, WEBSITE, WRITE_KEY, read_records};
use reqwest::Method;
use serde_json::{Value, json};

/// What identifies Olivia, the person who is erased.
const OLIVIA: &[&str] = &[
    "olivia@example.com",
    "Olivia Rossi",
    "+39 06 1234567",
    "390612",
    "Via Roma",
    "cust-olivia",
    "Rossi's secret plan",
    "OliviaBrowser",
];

async fn post(stack: &Stack, user_agent: &str, events: Value) {
    let response = stack
        .http
        .post(format!("{}/v1/events", stack.ingest_url))
        .header("X-Write-Key", WRITE_KEY)
        .header("User-Agent", user_agent)
        .json(&json!({ "batch": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Olivia's session: the person every test here erases.
async fn post_olivia(stack: &Stack) {
    post(
        stack,
        "OliviaBrowser/1.0",
        person([
            "olivia-chat",
            "cust-olivia",
            "Olivia Rossi",
            "olivia@example.com",
            "+39 06 1234567",
            "Via Roma 1",
        ]),
    )
    .await;
}

/// A visitor's session: `who` is (conversation, customer id, name, e-mail, phone, street).
fn person(who: [&str; 6]) -> Value {
    let [conversation, customer, name, email, phone, street] = who;
    json!([
        {"type": "widget.loaded", "conversation_id": conversation,
         "payload": {"customer_id": customer}},
        {"type": "message.sent", "conversation_id": conversation,
         "payload": {"sender": "user", "text": format!("{name}'s secret plan: I live at {street}"),
                     "customer_id": customer}},
        {"type": "message.sent", "conversation_id": conversation,
         "payload": {"sender": "bot", "text": "Thanks! Leave your details."}},
        {"type": "contact.submitted", "conversation_id": conversation,
         "payload": {"name": name, "email": email, "phone": phone,
                     "message": format!("Call {name} back"),
                     "chat_context": [{"text": format!("I live at {street}"), "is_user": true}]}},
        {"type": "conversation.rated", "conversation_id": conversation,
         "payload": {"rating": 5, "comment": format!("{name} says thanks")}},
    ])
}

/// Every row of every table of `schema`, as text.
async fn all_rows(stack: &Stack, schema: &str) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
    )
    .bind(schema)
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    assert!(tables.len() > 10, "{tables:?}");
    let mut text = String::new();
    for table in tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM \"{schema}\".\"{table}\" t"))
                .fetch_all(&stack.pool)
                .await
                .unwrap();
        text.push_str(&rows.join("\n"));
    }
    text
}

fn assert_no_trace(place: &str, text: &str) {
    for trace in OLIVIA {
        assert!(!text.contains(trace), "{trace:?} found in {place}");
    }
}

async fn totals(stack: &Stack) -> Value {
    let (status, stats) = stack
        .query(&format!("/v1/stats?website_id={WEBSITE}"))
        .await;
    assert_eq!(status, 200, "{stats}");
    let (_, requests) = stack
        .query(&format!("/v1/contact-requests?website_id={WEBSITE}"))
        .await;
    let (_, conversations) = stack
        .query(&format!("/v1/conversations?website_id={WEBSITE}"))
        .await;
    let (_, contacts) = stack
        .query(&format!("/v1/contacts?website_id={WEBSITE}"))
        .await;
    let current = &stats["current"];
    json!({
        "widget_loads": current["widget_loads"],
        "messages": current["messages"],
        "user_messages": current["user_messages"],
        "engaged": current["engaged_conversations"],
        "unique_visitors": current["unique_visitors"],
        "requests": requests["total"],
        "conversations": conversations["total"],
        "contacts": contacts["total"],
    })
}

#[tokio::test]
async fn an_erased_person_stays_erased_through_a_rebuild_and_in_the_raw_topic() {
    let stack = Stack::start(3).await;
    post_olivia(&stack).await;
    post(
        &stack,
        "BrunoBrowser/2.0",
        person([
            "bruno-chat",
            "cust-bruno",
            "Bruno Weiss",
            "bruno@example.com",
            "+49 30 7654321",
            "Unter den Linden 5",
        ]),
    )
    .await;
    // In her conversation she also left a colleague's details: sealed under the same key,
    // so erasing her conversation erases them there too, live as in a replay.
    post(
        &stack,
        "OliviaBrowser/1.0",
        json!([{"type": "contact.submitted", "conversation_id": "olivia-chat",
                "payload": {"name": "Marco Bianchi", "email": "marco@example.com",
                            "message": "My colleague will call too"}}]),
    )
    .await;
    stack.wait_until_caught_up(Duration::from_secs(30)).await;

    // Sealed from the start: a plain consumer of the topic never saw the personal data...
    let raw: Vec<String> = read_records(&stack.kafka, &stack.topic)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect();
    assert_eq!(raw.len(), 11);
    assert!(
        !raw.join("\n").contains("127.0.0.1"),
        "addresses are sealed"
    );
    assert_no_trace("the raw topic", &raw.join("\n"));
    assert!(!raw.join("\n").contains("bruno@example.com"));
    // ...while the read models, built with the keys, have all of it.
    let (status, held) = stack
        .query("/v1/subjects/export?email=olivia@example.com")
        .await;
    assert_eq!(status, 200, "{held}");
    let held = held.to_string();
    for trace in [
        "Olivia Rossi",
        "Via Roma",
        "OliviaBrowser",
        "Rossi's secret plan",
    ] {
        assert!(
            held.contains(trace),
            "{trace} not held before erasure: {held}"
        );
    }
    let before = totals(&stack).await;
    assert_eq!(before["requests"], 3, "{before}");
    assert_eq!(before["contacts"], 3, "{before}");

    // Erased through the API, by e-mail and by customer id.
    let (status, body) = stack
        .admin(
            Method::POST,
            "/v1/subjects/erase",
            ADMIN_TOKEN,
            Some(json!({"email": "olivia@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .admin(
            Method::POST,
            "/v1/subjects/erase",
            ADMIN_TOKEN,
            Some(json!({"customer_id": "cust-olivia"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM colloquy.subject_keys WHERE subject = 'olivia-chat'",
    )
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    assert_eq!(keys, 0, "the conversation's key is shredded");
    // Marco stays a contact, without what he could only be known by through her conversation.
    let (status, contacts) = stack.query("/v1/contacts?include_erased=true").await;
    assert_eq!(status, 200, "{contacts}");
    for trace in ["marco@example.com", "Marco Bianchi"] {
        assert!(!contacts.to_string().contains(trace), "{trace}: {contacts}");
    }
    let erased = totals(&stack).await;
    for statistic in [
        "widget_loads",
        "messages",
        "user_messages",
        "engaged",
        "unique_visitors",
    ] {
        assert_eq!(erased[statistic], before[statistic], "{statistic}");
    }

    // A full rebuild from offset 0, checked against the live version and switched to.
    let output = stack.projector_command(&["rebuild"]).await;
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rebuild failed:\n{report}");
    assert!(report.contains("is live"), "{report}");
    assert!(!report.contains("DIFFERENT"), "{report}");
    let live = stack.live_schema().await;
    assert_ne!(live, "public");

    // No trace through the API...
    let (_, mut held) = stack
        .query("/v1/subjects/export?email=olivia@example.com")
        .await;
    // The export repeats what it was asked for; everything else is what is held.
    held["subject"].take();
    assert_no_trace("the subject export", &held.to_string());
    for path in [
        "/v1/conversations/olivia-chat",
        "/v1/contacts?q=olivia&include_erased=true",
        "/v1/contacts?include_erased=true",
        "/v1/contact-requests",
    ] {
        let (status, body) = stack.query(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_no_trace(path, &body.to_string());
    }
    // ...in the exports...
    for kind in ["conversations", "messages", "contacts", "events"] {
        let response = stack
            .http
            .get(format!(
                "{}/v1/exports/{kind}?website_id={WEBSITE}&format=ndjson",
                stack.query_url
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{kind}");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{kind} export is empty");
        assert_no_trace(&format!("the {kind} export"), &body);
    }
    // ...in any table of the rebuilt version (and of the one before it)...
    for schema in [live.as_str(), "public"] {
        let rows = all_rows(&stack, schema).await;
        assert_no_trace(&format!("the tables of {schema}"), &rows);
        assert!(rows.contains("bruno@example.com"), "Bruno is not erased");
    }
    // ...in the topic, to a plain consumer or with the key store.
    let raw: Vec<String> = read_records(&stack.kafka, &stack.topic)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect();
    assert_no_trace("the raw topic", &raw.join("\n"));
    let opened = stack.open_topic().await;
    let opened_text: Vec<String> = opened.iter().map(Value::to_string).collect();
    assert_no_trace(
        "the topic opened with the key store",
        &opened_text.join("\n"),
    );
    assert!(
        opened_text.iter().any(|e| e.contains("Bruno Weiss")),
        "the others' events still open"
    );

    // Her address is gone from her conversation and her events, Bruno's is not.
    let addresses: Vec<(String, Option<String>)> = sqlx::query_as(&format!(
        "SELECT conversation_id, ip_address::text FROM \"{live}\".conversations ORDER BY 1"
    ))
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    assert_eq!(addresses[0].0, "bruno-chat");
    assert!(addresses[0].1.is_some(), "{addresses:?}");
    assert_eq!(addresses[1], ("olivia-chat".to_owned(), None));
    for event in opened
        .iter()
        .filter(|e| e["conversation_id"] == "olivia-chat")
    {
        assert!(event["context"]["ip"].is_null(), "{event}");
    }

    // What does not identify her still counts, as it did when she was erased.
    let after = totals(&stack).await;
    assert_eq!(after, erased, "the rebuild changed what the API counts");
}

/// The read-model schemas that exist, by what Postgres holds rather than by what the metadata
/// says: `public` and every `rm_*`.
async fn read_model_schemas(stack: &Stack) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT n.nspname::text FROM pg_namespace n
         WHERE (n.nspname = 'public' OR n.nspname LIKE 'rm\\_%')
           AND EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = n.nspname)
         ORDER BY 1",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap()
}

/// An erasure after a rebuild reaches the version the rebuild replaced too: that version no
/// longer follows the topic, so the live projector drops it when it applies the erasure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_after_a_rebuild_leaves_no_copy_in_any_version() {
    let stack = Stack::start(3).await;
    post_olivia(&stack).await;
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    let output = stack.projector_command(&["rebuild"]).await;
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rebuild failed:\n{report}");
    let live = stack.live_schema().await;
    assert_eq!(
        read_model_schemas(&stack).await,
        ["public".to_owned(), live.clone()]
    );
    assert!(
        all_rows(&stack, "public")
            .await
            .contains("olivia@example.com"),
        "the replaced version keeps what it held"
    );

    let (status, body) = stack
        .admin(
            Method::POST,
            "/v1/subjects/erase",
            ADMIN_TOKEN,
            Some(json!({"email": "olivia@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Dropped by the live projector between batches.
    for _ in 0..300 {
        if read_model_schemas(&stack).await == std::slice::from_ref(&live) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let schemas = read_model_schemas(&stack).await;
    assert_eq!(
        schemas,
        std::slice::from_ref(&live),
        "a replaced version survived the erasure"
    );
    for schema in &schemas {
        assert_no_trace(schema, &all_rows(&stack, schema).await);
    }
    let versions: Vec<String> =
        sqlx::query_scalar("SELECT state FROM colloquy.read_models ORDER BY version")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    assert_eq!(versions, ["live"]);
}
