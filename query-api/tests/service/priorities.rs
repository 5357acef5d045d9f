//! Conversation priorities: an admin sets one as an event; a conversation flagged for a human
//! without one reads high; lists filter by it and page through it most urgent first; the
//! legacy routes show it as the old integer.

use schemas::payloads::MessageSent;
use schemas::{Payload, Sender};
use serde_json::{Value, json};

use crate::common::{message, spawn_app};

fn ids(list: &Value) -> Vec<String> {
    list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `query`, `limit` rows at a time, following the cursors.
async fn all_pages(app: &crate::common::TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{query}&limit={limit}&cursor={c}"),
            None => format!("{query}&limit={limit}"),
        };
        let (status, list) = app.api().conversations(&page).await;
        assert_eq!(status, 200, "{list}");
        out.extend(ids(&list));
        match list["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn priorities_set_by_admins_and_by_flags_filter_sort_and_page() {
    let app = spawn_app().await;
    // Each conversation's last activity is its number of seconds; `f` asked for a human.
    let mut flagged = message("w", "f", 50, Sender::User, "A human please");
    if let Payload::MessageSent(MessageSent { requires_human, .. }) = &mut flagged.payload {
        *requires_human = true;
    }
    app.given(vec![
        message("w", "a", 10, Sender::User, "hi"),
        message("w", "b", 20, Sender::User, "hi"),
        message("w", "c", 30, Sender::User, "hi"),
        message("w", "d", 40, Sender::User, "hi"),
        flagged,
        message("w", "e", 60, Sender::User, "hi"),
        message("w", "g", 70, Sender::User, "hi"),
    ])
    .await;
    for (id, priority) in [
        ("a", "urgent"),
        ("b", "low"),
        ("c", "high"),
        ("g", "urgent"),
    ] {
        let (status, body) = app
            .api()
            .set_priority(id, "website_id=w", json!({"priority": priority}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["conversation"]["priority"], priority, "{body}");
    }

    // What each reads, worked out by hand, with its last activity.
    let expected = [
        ("a", "urgent", 10),
        ("b", "low", 20),
        ("c", "high", 30),
        ("d", "normal", 40),
        ("f", "high", 50),
        ("e", "normal", 60),
        ("g", "urgent", 70),
    ];
    let rank = |p: &str| {
        ["low", "normal", "high", "urgent"]
            .iter()
            .position(|x| *x == p)
    };
    let mut most_urgent_first = expected.to_vec();
    most_urgent_first.sort_by_key(|(id, p, at)| std::cmp::Reverse((rank(p), *at, *id)));
    let order: Vec<&str> = most_urgent_first.iter().map(|(id, ..)| *id).collect();
    assert_eq!(
        all_pages(&app, "website_id=w&sort=-priority", 2).await,
        order
    );
    let reversed: Vec<&str> = order.iter().rev().copied().collect();
    assert_eq!(
        all_pages(&app, "website_id=w&sort=priority", 3).await,
        reversed
    );

    for priority in ["urgent", "high", "normal", "low"] {
        let (status, list) = app
            .api()
            .conversations(&format!("website_id=w&priority={priority}"))
            .await;
        assert_eq!(status, 200, "{list}");
        let mut got = ids(&list);
        got.sort();
        let want: Vec<&str> = expected
            .iter()
            .filter(|(_, p, _)| *p == priority)
            .map(|(id, ..)| *id)
            .collect();
        assert_eq!(got, want, "{priority}");
    }

    // A set priority outranks the flag; clearing one returns to what the flags say.
    let (_, body) = app
        .api()
        .set_priority("f", "website_id=w", json!({"priority": "low"}))
        .await;
    assert_eq!(body["conversation"]["priority"], "low", "{body}");
    let (_, body) = app
        .api()
        .set_priority("c", "website_id=w", json!({"priority": null}))
        .await;
    assert_eq!(body["conversation"]["priority"], "normal", "{body}");

    // The legacy list: the old integer, 1 low to 4 urgent.
    let (status, legacy) = app.get("/admin/conversations?website_id=w").await;
    assert_eq!(status, 200, "{legacy}");
    let numbers: std::collections::BTreeMap<&str, i64> = legacy["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["priority"].as_i64().unwrap()))
        .collect();
    let want: std::collections::BTreeMap<&str, i64> = [
        ("a", 4),
        ("b", 1),
        ("c", 2),
        ("d", 2),
        ("f", 1),
        ("e", 2),
        ("g", 4),
    ]
    .into_iter()
    .collect();
    assert_eq!(numbers, want, "{legacy}");

    for bad in [
        json!({"priority": "critical"}),
        json!({"priority": 3}),
        json!({"priority": "high", "reason": "x"}),
    ] {
        let (status, body) = app.api().set_priority("a", "website_id=w", bad).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, _) = app.api().conversations("priority=critical").await;
    assert_eq!(status, 400);
    let (status, _) = app
        .api()
        .set_priority("nope", "website_id=w", json!({"priority": "high"}))
        .await;
    assert_eq!(status, 404);
}
