//! Lead scores: each contact is hot, warm or cold now, by the rules of the contacts guide,
//! worked out below from what each contact did and how many days ago; a website's own
//! keywords replace the defaults.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use schemas::payloads::ContactSubmitted;
use schemas::{Event, Payload, Sender};
use serde_json::{Value, json};

use crate::common::spawn_app;

/// One conversation of a contact, `days` ago: a visitor message, then the contact form.
fn conversation(email: &str, conversation: &str, days: i64, text: &str) -> Vec<Event> {
    let when = Utc::now() - Duration::days(days);
    let said = schemas::testing::message("w", conversation, when, Sender::User, text);
    let submitted = schemas::testing::event(
        "w",
        conversation,
        when + Duration::seconds(1),
        Payload::ContactSubmitted(ContactSubmitted {
            request_id: Some(format!("r-{conversation}")),
            name: None,
            email: Some(email.into()),
            phone: None,
            message: None,
            chat_context: vec![],
        }),
    );
    vec![said, submitted]
}

/// Each contact's score and reasons, by e-mail.
async fn scores(app: &crate::common::TestApp, query: &str) -> BTreeMap<String, (String, Value)> {
    let (status, list) = app.api().contacts(query).await;
    assert_eq!(status, 200, "{list}");
    list["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["email"].as_str().unwrap().to_owned(),
                (
                    c["lead_score"].as_str().unwrap().to_owned(),
                    c["lead_reasons"].clone(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn contacts_are_hot_warm_or_cold_by_questions_conversations_and_recency() {
    let app = spawn_app().await;
    let hello = "Hello there, I have a question";
    let mut events = Vec::new();
    // Recent and asked the price (in French): hot.
    events.extend(conversation(
        "pricing@x.example",
        "p1",
        2,
        "Combien coûte le forfait Pro ?",
    ));
    // Recent, a third conversation: hot.
    for (i, days) in [20, 12, 1].into_iter().enumerate() {
        events.extend(conversation(
            "regular@x.example",
            &format!("m{i}"),
            days,
            hello,
        ));
    }
    // Recent, a single conversation, no such question: warm.
    events.extend(conversation("recent@x.example", "r1", 3, hello));
    // Asked for a demo, but 10 days ago: warm.
    events.extend(conversation(
        "demo@x.example",
        "d1",
        10,
        "Can I book a demo next week?",
    ));
    // Asked the price, 40 days ago: cold.
    events.extend(conversation(
        "old@x.example",
        "o1",
        40,
        "What are your prices?",
    ));
    // A single conversation 10 days ago, no question: cold.
    events.extend(conversation("once@x.example", "s1", 10, hello));
    // "price" inside another word is no question about prices.
    events.extend(conversation(
        "word@x.example",
        "w1",
        10,
        "Priceless advice, thanks",
    ));
    app.given(events).await;

    let reasons = |r: &[&str]| json!(r);
    let expected: BTreeMap<String, (String, Value)> = [
        (
            "pricing@x.example",
            "hot",
            reasons(&[
                "asked about pricing or plans",
                "a single conversation",
                "active in the last 7 days",
            ]),
        ),
        (
            "regular@x.example",
            "hot",
            reasons(&["3 conversations", "active in the last 7 days"]),
        ),
        (
            "recent@x.example",
            "warm",
            reasons(&["a single conversation", "active in the last 7 days"]),
        ),
        (
            "demo@x.example",
            "warm",
            reasons(&[
                "asked for a demo or a trial",
                "a single conversation",
                "last active 7 to 30 days ago",
            ]),
        ),
        (
            "old@x.example",
            "cold",
            reasons(&[
                "asked about pricing or plans",
                "a single conversation",
                "no activity for over 30 days",
            ]),
        ),
        (
            "once@x.example",
            "cold",
            reasons(&["a single conversation", "last active 7 to 30 days ago"]),
        ),
        (
            "word@x.example",
            "cold",
            reasons(&["a single conversation", "last active 7 to 30 days ago"]),
        ),
    ]
    .into_iter()
    .map(|(e, s, r)| (e.to_owned(), (s.to_owned(), r)))
    .collect();
    assert_eq!(scores(&app, "website_id=w&limit=100").await, expected);

    for score in ["hot", "warm", "cold"] {
        let got: Vec<String> = scores(&app, &format!("website_id=w&lead_score={score}"))
            .await
            .into_keys()
            .collect();
        let want: Vec<String> = expected
            .iter()
            .filter(|(_, (s, _))| s == score)
            .map(|(e, _)| e.clone())
            .collect();
        assert_eq!(got, want, "{score}");
        let (_, list) = app
            .api()
            .contacts(&format!("website_id=w&lead_score={score}"))
            .await;
        assert_eq!(list["total"], want.len(), "{list}");
    }
    let (_, sorted) = app.api().contacts("website_id=w&sort=-lead_score").await;
    let order: Vec<&str> = sorted["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["lead_score"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["hot", "hot", "warm", "warm", "cold", "cold", "cold"]
    );

    // The website's own words replace the defaults: "Priceless" is nothing, but "advice" now
    // asks about plans, and French prices no longer count.
    let (status, body) = app
        .api()
        .set_lead_keywords("w", json!({"pricing": ["advice"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pricing"], json!(["advice"]), "{body}");
    let now = scores(&app, "website_id=w&limit=100").await;
    assert_eq!(now["pricing@x.example"].0, "warm");
    assert_eq!(now["word@x.example"].1[0], "asked about pricing or plans");
    assert_eq!(
        now["demo@x.example"].0, "warm",
        "the demo words stay the defaults"
    );

    for bad in [
        json!({"pricing": [""]}),
        json!({"pricing": ["x".repeat(65)]}),
        json!({"other": []}),
    ] {
        let (status, body) = app.api().set_lead_keywords("w", bad).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, _) = app.api().contacts("lead_score=boiling").await;
    assert_eq!(status, 400);
}
