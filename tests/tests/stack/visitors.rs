//! Visitors' countries and languages, end to end. Countries: browsers post from public, private and unplaced addresses
//! (through a trusted proxy's `X-Forwarded-For`), a server posts for them, and a website turns
//! countries off. The countries in the topic, on the conversations, in the list filter, the
//! breakdown and the export are checked against the addresses' known owners; an admin sets a
//! priority; and a rebuild must give the same.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::{ADMIN_TOKEN, Stack, WEBSITE, WRITE_KEY};
use reqwest::Method;
use serde_json::{Value, json};

/// Posts a conversation's widget load and, when `engaged`, a visitor message: as a browser
/// (with an `Origin`) or as a server, from `address`.
async fn visit(stack: &Stack, conversation: &str, address: &str, browser: bool, engaged: bool) {
    let mut events = vec![json!({"type": "widget.loaded", "conversation_id": conversation})];
    if engaged {
        events.push(
            json!({"type": "message.sent", "conversation_id": conversation,
            "payload": {"sender": "user", "text": "Hello"}}),
        );
    }
    let mut request = stack
        .http
        .post(format!("{}/v1/events", stack.ingest_url))
        .header("X-Write-Key", WRITE_KEY)
        .header("X-Forwarded-For", address);
    if browser {
        request = request.header("Origin", "https://shop.example");
    }
    let response = request.json(&events).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// The country each conversation's events carry in the topic (`None` when they carry none).
async fn countries_in_topic(stack: &Stack) -> BTreeMap<String, Option<String>> {
    stack
        .open_topic()
        .await
        .iter()
        .filter(|r| r["type"] == "widget.loaded")
        .map(|r| {
            (
                r["conversation_id"].as_str().unwrap().to_owned(),
                r["context"]["country"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// What the read models answer about visitors: each conversation's country, priority and
/// languages, and the breakdown's rows by country and by language with the number of
/// conversations each row opens as.
async fn answers(stack: &Stack, today: &str) -> Value {
    let (status, list) = stack.query("/v1/conversations?limit=500").await;
    assert_eq!(status, 200, "{list}");
    let conversations: BTreeMap<String, Value> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["conversation_id"].as_str().unwrap().to_owned(),
                json!({"country": c["country"], "priority": c["priority"],
                    "language": c["language"], "detected_language": c["detected_language"]}),
            )
        })
        .collect();
    let (status, breakdown) = stack
        .query(&format!("/v1/stats/breakdown?from={today}&to={today}"))
        .await;
    assert_eq!(status, 200, "{breakdown}");
    let mut dimensions = BTreeMap::new();
    for dimension in ["by_country", "by_language"] {
        let mut rows = BTreeMap::new();
        for row in breakdown[dimension].as_array().unwrap() {
            let (status, opened) = stack
                .query(&format!("{}&limit=500", row["open"].as_str().unwrap()))
                .await;
            assert_eq!(status, 200, "{opened}");
            let opened = opened["conversations"].as_array().unwrap().len();
            assert_eq!(
                row["conversations"], opened,
                "a row opens as the conversations it counts: {row}"
            );
            rows.insert(row["key"].as_str().unwrap().to_owned(), opened);
        }
        dimensions.insert(dimension, rows);
    }
    let (status, list) = stack.query("/v1/contacts?limit=500").await;
    assert_eq!(status, 200, "{list}");
    let contacts: BTreeMap<String, Value> = list["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["email"].as_str().unwrap_or_default().to_owned(),
                json!({"lead_score": c["lead_score"], "lead_reasons": c["lead_reasons"]}),
            )
        })
        .collect();
    json!({"conversations": conversations, "breakdown": dimensions, "contacts": contacts})
}

#[tokio::test]
async fn countries_and_priorities_reach_lists_breakdown_and_export_and_survive_a_rebuild() {
    let stack = Stack::start(3).await;
    // Google's public resolver is in the United States, RIPE NCC's own servers in the
    // Netherlands; a home network's address and the documentation range belong to no country.
    let visits = [
        ("google", "8.8.8.8", true, Some("US")),
        ("ripe", "193.0.6.139", true, Some("NL")),
        ("google-v6", "2001:4860:4860::8888", true, Some("US")),
        ("home", "192.168.1.20", true, None),
        ("documentation", "203.0.113.9", true, None),
        // A server posting for its visitors: its address is not theirs.
        ("server", "8.8.8.8", false, None),
    ];
    for (conversation, address, browser, _) in visits {
        visit(&stack, conversation, address, browser, true).await;
    }
    // Two leads: one asks for a demo in Dutch, one only says hello.
    let leads = json!([
        {"type": "message.sent", "conversation_id": "ripe",
         "payload": {"sender": "user", "text": "Kan ik een demonstratie krijgen?"}},
        {"type": "contact.submitted", "conversation_id": "ripe",
         "payload": {"email": "anna@example.nl"}},
        {"type": "contact.submitted", "conversation_id": "home",
         "payload": {"email": "bob@example.com"}},
    ]);
    let response = stack.post_events(&leads).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // A website that turns countries off: from the moment ingest hears of the setting, a
    // browser from Google's resolver carries none.
    let (status, body) = stack
        .admin(
            Method::PUT,
            &format!("/v1/websites/{WEBSITE}/privacy"),
            ADMIN_TOKEN,
            Some(json!({"anonymize_ip": true, "record_country": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record_country"], false, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut probes = 0;
    loop {
        probes += 1;
        let probe = format!("probe-{probes}");
        visit(&stack, &probe, "8.8.4.4", true, false).await;
        if countries_in_topic(&stack).await[&probe].is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ingest never applied the setting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let in_topic = countries_in_topic(&stack).await;
    for (conversation, address, _, country) in visits {
        assert_eq!(
            in_topic[conversation].as_deref(),
            country,
            "{conversation} from {address}"
        );
    }
    stack.wait_until_caught_up(Duration::from_secs(30)).await;

    // What the answers must be, from the visits alone: each conversation's country, and the
    // engaged conversations (the visits, not the probes) counted by country.
    let mut by_country = BTreeMap::<String, usize>::new();
    for (_, _, _, country) in visits {
        *by_country
            .entry(country.unwrap_or("unknown").to_owned())
            .or_default() += 1;
    }
    let (status, body) = stack
        .admin(
            Method::PUT,
            "/v1/conversations/ripe/priority",
            ADMIN_TOKEN,
            Some(json!({"priority": "urgent"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let today = chrono::Utc::now().date_naive().to_string();
    let live = answers(&stack, &today).await;
    for (conversation, _, _, country) in visits {
        // "Hello" is too short to tell a language by; the Dutch question is not.
        let (priority, detected) = if conversation == "ripe" {
            ("urgent", Some("nl"))
        } else {
            ("normal", None)
        };
        assert_eq!(
            live["conversations"][conversation],
            json!({"country": country, "priority": priority, "language": null,
                "detected_language": detected}),
            "{live}"
        );
    }
    assert_eq!(live["breakdown"]["by_country"], json!(by_country), "{live}");
    assert_eq!(
        live["contacts"],
        json!({
            "anna@example.nl": {"lead_score": "hot", "lead_reasons": [
                "asked for a demo or a trial", "a single conversation", "active in the last 7 days"]},
            "bob@example.com": {"lead_score": "warm", "lead_reasons": [
                "a single conversation", "active in the last 7 days"]},
        }),
        "{live}"
    );

    // The contact insights of today: both leads are new and active, and each count opens as
    // the contacts it counts.
    let (status, insights) = stack
        .query(&format!("/v1/stats/contacts?from={today}&to={today}"))
        .await;
    assert_eq!(status, 200, "{insights}");
    let current = &insights["current"];
    assert_eq!(
        (
            &current["total_contacts"],
            &current["new_contacts"],
            &current["active_contacts"]
        ),
        (&json!(2), &json!(2), &json!(2)),
        "{insights}"
    );
    for (name, link) in current["open"].as_object().unwrap() {
        let (status, list) = stack.query(link.as_str().unwrap()).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["total"], current[name], "{name}: {link}");
    }

    // The probes before the setting took effect came from the US too, but never engaged.
    let (status, us) = stack
        .query("/v1/conversations?country=US&population=engaged")
        .await;
    assert_eq!(status, 200, "{us}");
    let mut listed: Vec<&str> = us["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ["google", "google-v6"]);
    let (status, bad) = stack.query("/v1/conversations?country=usa").await;
    assert_eq!(status, 400, "{bad}");

    let export = stack
        .http
        .get(format!(
            "{}/v1/exports/conversations?format=csv&country=NL",
            stack.query_url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let csv = export.text().await.unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header
        .iter()
        .position(|c| *c == "country")
        .expect("a country column");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(rows[0][column], "NL", "{csv}");

    let output = stack.projector_command(&["rebuild"]).await;
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rebuild failed:\n{report}");
    assert_ne!(stack.live_schema().await, "public");
    assert_eq!(
        answers(&stack, &today).await,
        live,
        "a rebuild answers alike"
    );
}

/// A visitor's message, sent by the website's server; `language` declares one.
fn said(conversation: &str, text: &str, language: Option<&str>, customer: Option<&str>) -> Value {
    let mut event = json!({"type": "message.sent", "conversation_id": conversation,
        "payload": {"sender": "user", "text": text}});
    if let Some(language) = language {
        event["context"] = json!({"language": language});
    }
    if let Some(customer) = customer {
        event["payload"]["customer_id"] = json!(customer);
    }
    event
}

#[tokio::test]
async fn languages_are_detected_apart_from_declared_ones_and_survive_erasure_and_a_rebuild() {
    let stack = Stack::start(3).await;
    let french = "Bonjour, est-ce que vous livrez en Belgique la semaine prochaine ?";
    let french_too = "Merci beaucoup, je voudrais aussi savoir combien coûte la livraison.";
    let english = "Do you ship to Norway, and how long does delivery usually take?";
    let spanish = "Lo siento, no puedo responder a esa pregunta ahora mismo.";
    let mut events = vec![
        said("fr", french, None, Some("cust-fr")),
        // Two French messages outweigh one English.
        said("mixed", french, None, None),
        said("mixed", english, None, None),
        said("mixed", french_too, None, None),
        // A declared language is kept as declared, and nothing is detected beside it.
        said("declared", english, Some("de-DE"), None),
        said("short", "ok", None, None),
    ];
    // The bot's words are not the visitor's.
    events.push(json!({"type": "message.sent", "conversation_id": "short",
        "payload": {"sender": "bot", "text": spanish}}));
    let response = stack.post_events(&json!(events)).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    stack.wait_until_caught_up(Duration::from_secs(30)).await;

    let today = chrono::Utc::now().date_naive().to_string();
    let live = answers(&stack, &today).await;
    let conversation = |language: Option<&str>, detected: Option<&str>| {
        json!({"country": null, "priority": "normal", "language": language,
            "detected_language": detected})
    };
    assert_eq!(
        live["conversations"],
        json!({
            "fr": conversation(None, Some("fr")),
            "mixed": conversation(None, Some("fr")),
            "declared": conversation(Some("de-DE"), None),
            "short": conversation(None, None),
        })
    );
    assert_eq!(
        live["breakdown"]["by_language"],
        json!({"fr": 2, "de": 1, "unknown": 1})
    );
    let (status, french_ones) = stack.query("/v1/conversations?language=fr").await;
    assert_eq!(status, 200, "{french_ones}");
    assert_eq!(french_ones["count"], 2, "{french_ones}");
    let (status, _) = stack.query("/v1/conversations?language=French").await;
    assert_eq!(status, 400);

    // Erasing the visitor erases what their texts said, the language too: a replay, which
    // cannot read the texts, detects none.
    let (status, body) = stack
        .admin(
            Method::POST,
            "/v1/subjects/erase",
            ADMIN_TOKEN,
            Some(json!({"customer_id": "cust-fr", "website_id": WEBSITE})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    stack.wait_until_caught_up(Duration::from_secs(30)).await;
    let erased = answers(&stack, &today).await;
    assert_eq!(erased["conversations"]["fr"], conversation(None, None));
    assert_eq!(
        erased["breakdown"]["by_language"],
        json!({"fr": 1, "de": 1, "unknown": 2})
    );

    let output = stack.projector_command(&["rebuild"]).await;
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rebuild failed:\n{report}");
    assert_ne!(stack.live_schema().await, "public");
    assert_eq!(
        answers(&stack, &today).await,
        erased,
        "a rebuild answers alike"
    );
}
