//! Visitors by address: the conversations from an address or a range, an anonymised network
//! matching the addresses in it, and how many other conversations came from the same one.

use chrono::{DateTime, Utc};
use schemas::{Event, Sender};
use serde_json::Value;

use crate::common::spawn_app;

fn from(conversation: &str, ip: &str) -> Event {
    let when: DateTime<Utc> = "2026-11-10T12:00:00Z".parse().unwrap();
    let mut e = schemas::testing::message("w", conversation, when, Sender::User, "hi");
    e.context.ip = Some(ip.parse().unwrap());
    e
}

fn ids(list: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn conversations_are_found_by_address_range_and_anonymised_network() {
    let app = spawn_app().await;
    app.given(vec![
        from("a1", "203.0.113.7"),
        from("a2", "203.0.113.7"),
        from("a3", "203.0.113.99"),
        // Stored as ingest anonymises it: the /24 network.
        from("n1", "198.51.100.0"),
        from("v6", "2001:db8:1:2::5"),
        from("x", "192.0.2.1"),
    ])
    .await;
    for (ip, expected) in [
        ("203.0.113.7", vec!["a1", "a2"]),
        ("203.0.113.0/24", vec!["a1", "a2", "a3"]),
        // An address in an anonymised network finds it.
        ("198.51.100.42", vec!["n1"]),
        ("2001:db8::/32", vec!["v6"]),
        ("10.0.0.1", vec![]),
    ] {
        let (status, list) = app
            .api()
            .conversations(&format!("website_id=w&ip={}", ip.replace('/', "%2F")))
            .await;
        assert_eq!(status, 200, "{ip}: {list}");
        assert_eq!(ids(&list), expected, "{ip}");
    }
    for bad in ["203.0.113", "203.0.113.0/33", "example.com"] {
        let (status, body) = app
            .api()
            .conversations(&format!("ip={}", bad.replace('/', "%2F")))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (_, a1) = app.api().conversation("a1", "website_id=w").await;
    assert_eq!(a1["same_address_conversations"], 1, "{a1}");
    let (_, x) = app.api().conversation("x", "website_id=w").await;
    assert_eq!(x["same_address_conversations"], 0, "{x}");
}

#[tokio::test]
async fn a_shared_address_is_counted_up_to_the_cap() {
    let app = spawn_app().await;
    let cap = query_api::store::conversations::SAME_ADDRESS_CAP;
    let shared: Vec<Event> = (0..=cap + 1)
        .map(|i| from(&format!("office-{i}"), "203.0.113.50"))
        .collect();
    app.given(shared).await;
    app.given(vec![
        from("alone", "203.0.113.51"),
        from("pair", "203.0.113.51"),
    ])
    .await;
    let (_, office) = app.api().conversation("office-0", "website_id=w").await;
    assert_eq!(office["same_address_conversations"], cap, "{office}");
    assert_eq!(office["same_address_capped"], true, "{office}");
    let (_, pair) = app.api().conversation("pair", "website_id=w").await;
    assert_eq!(pair["same_address_conversations"], 1, "{pair}");
    assert_eq!(pair["same_address_capped"], false, "{pair}");
}
