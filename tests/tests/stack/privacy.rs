//! Privacy at ingest, end to end: an admin turns on IP anonymisation for a website through the
//! API, and from then on no event of that website reaches the topic with a full address; a
//! browser that sends Do Not Track is counted without identifiers; unique visitors are counted
//! by a daily-salted hash, not by address.

use std::time::{Duration, Instant};

use e2e::{ADMIN_TOKEN, Stack, WEBSITE, WRITE_KEY, read_topic};
use serde_json::{Value, json};

/// Posts one event as a browser on the website's page would (with an `Origin`), plus headers.
async fn post_from_browser(stack: &Stack, event: Value, headers: &[(&str, &str)]) {
    let mut request = stack
        .http
        .post(format!("{}/v1/events", stack.ingest_url))
        .header("X-Write-Key", WRITE_KEY)
        .header("Origin", "https://shop.example")
        .header(
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.json(&event).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

fn of_conversation<'a>(records: &'a [Value], conversation: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["conversation_id"] == conversation)
        .collect()
}

#[tokio::test]
async fn anonymised_addresses_opt_outs_and_salted_visitors_from_ingest_to_the_read_models() {
    let stack = Stack::start(3).await;

    // Before the setting: the address as received.
    post_from_browser(
        &stack,
        json!({"type": "widget.loaded", "conversation_id": "before"}),
        &[],
    )
    .await;

    let (status, body) = stack
        .admin(
            reqwest::Method::PUT,
            &format!("/v1/websites/{WEBSITE}/privacy"),
            ADMIN_TOKEN,
            Some(json!({"anonymize_ip": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Ingest reloads the settings when the projector announces the change: post until an
    // event shows it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    let anonymised = loop {
        attempt += 1;
        let conversation = format!("probe-{attempt}");
        post_from_browser(
            &stack,
            json!({"type": "widget.loaded", "conversation_id": conversation}),
            &[],
        )
        .await;
        let records = stack.open_topic().await;
        let ip = of_conversation(&records, &conversation)[0]["context"]["ip"].clone();
        if ip != "127.0.0.1" {
            break ip;
        }
        assert!(
            Instant::now() < deadline,
            "ingest never applied the setting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(anonymised, "127.0.0.0");

    // The same browser opens two more conversations: one visitor.
    for conversation in ["visit-1", "visit-2"] {
        post_from_browser(
            &stack,
            json!({"type": "message.sent", "conversation_id": conversation,
                   "payload": {"sender": "user", "text": "hello"}}),
            &[],
        )
        .await;
    }
    // A browser with Do Not Track: counted, without identifiers.
    post_from_browser(
        &stack,
        json!({"type": "message.sent", "conversation_id": "dnt",
               "context": {"page_url": "https://shop.example/cart?coupon=ME", "metadata": {"plan": "pro"}},
               "payload": {"sender": "user", "text": "just looking", "customer_id": "cust-dnt"}}),
        &[("DNT", "1")],
    )
    .await;

    // A plain consumer of the topic sees no address at all: it is sealed.
    for record in read_topic(&stack.kafka, &stack.topic) {
        assert!(!record.to_string().contains("127.0.0"), "{record}");
    }
    let records = stack.open_topic().await;
    let before = of_conversation(&records, "before");
    assert_eq!(before[0]["context"]["ip"], "127.0.0.1");
    // Everything after the setting took effect: the probes before it may carry it or not.
    for record in records.iter().filter(|r| {
        let conversation = r["conversation_id"].as_str().unwrap_or_default();
        conversation != "before" && !conversation.starts_with("probe-")
    }) {
        if record["type"] == "website.privacy_changed" || record["context"]["ip"].is_null() {
            continue;
        }
        assert_eq!(record["context"]["ip"], "127.0.0.0", "{record}");
    }
    let visits: Vec<&Value> = ["visit-1", "visit-2"]
        .iter()
        .map(|c| of_conversation(&records, c)[0])
        .collect();
    assert!(visits[0]["context"]["visitor"].is_string());
    assert_eq!(
        visits[0]["context"]["visitor"],
        visits[1]["context"]["visitor"]
    );
    let dnt = of_conversation(&records, "dnt")[0];
    assert_eq!(dnt["context"]["consent"], "denied");
    let text = dnt.to_string();
    for gone in [
        "127.0.0",
        "Firefox",
        "cust-dnt",
        "coupon",
        "plan",
        "\"visitor\"",
    ] {
        assert!(!text.contains(gone), "{gone} reached the topic: {text}");
    }
    assert_eq!(dnt["payload"]["text"], "just looking");

    // The read models: the browser's conversations count as its hashed visitor, the
    // opted-out conversation on its own, and no address is kept in full.
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    let visitors: Vec<String> = sqlx::query_scalar("SELECT visitor FROM visits ORDER BY visitor")
        .fetch_all(&stack.pool)
        .await
        .unwrap();
    let hashed = format!("v:{}", visits[0]["context"]["visitor"].as_str().unwrap());
    assert!(visitors.contains(&hashed), "{visitors:?}");
    assert!(visitors.contains(&"k:dnt".to_owned()), "{visitors:?}");
    assert!(
        !visitors.iter().any(|v| v.starts_with("k:visit")),
        "{visitors:?}"
    );
    let addresses: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT ip_address FROM conversations WHERE conversation_id IN ('visit-1', 'visit-2', 'dnt')
         ORDER BY conversation_id",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    assert_eq!(
        addresses,
        vec![None, Some("127.0.0.0".into()), Some("127.0.0.0".into())]
    );
}
