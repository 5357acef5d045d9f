//! `GET /v1/stats/funnel` against expectations worked out from the events themselves.

use std::collections::BTreeMap;

use schemas::payloads::{ContactSubmitted, CtaClicked, WidgetLoaded};
use schemas::{Event, Payload, Sender};
use serde_json::Value;

use crate::common::{event, message, spawn_app};

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Stages {
    loaded: i64,
    engaged: i64,
    loaded_engaged: i64,
    cta: i64,
    contact: i64,
}

#[tokio::test]
async fn the_funnel_counts_each_stage_per_page_and_hour() {
    let app = spawn_app().await;
    let pages = ["https://shop.example/pricing", "https://shop.example/"];
    let mut events: Vec<Event> = Vec::new();
    let mut by_page: BTreeMap<&str, Stages> = BTreeMap::new();
    let mut by_hour: BTreeMap<i64, i64> = BTreeMap::new();
    for i in 0..40i64 {
        let c = format!("f{i}");
        let page = pages[(i % 2) as usize];
        // Two hours of traffic: the first 20 in the first hour.
        let t = if i < 20 { i * 60 } else { 3_600 + i * 60 };
        let loaded = i % 5 != 0;
        // Without a widget load nothing says which page the conversation was on.
        let s = by_page.entry(if loaded { page } else { "" }).or_default();
        if loaded {
            events.push(event(
                "a",
                &c,
                t,
                Payload::WidgetLoaded(WidgetLoaded {
                    page_url: Some(page.into()),
                    ..WidgetLoaded::default()
                }),
            ));
            s.loaded += 1;
            *by_hour.entry(t / 3_600).or_default() += 1;
        }
        if i % 2 == 0 || i % 3 == 0 {
            events.push(message("a", &c, t + 5, Sender::User, "hello"));
            s.engaged += 1;
            s.loaded_engaged += i64::from(loaded);
            if i % 4 == 0 {
                events.push(event(
                    "a",
                    &c,
                    t + 10,
                    Payload::CtaClicked(CtaClicked {
                        cta_id: None,
                        customer_id: None,
                        label: "Buy".into(),
                        value: None,
                    }),
                ));
                s.cta += 1;
            }
            if i % 3 == 0 {
                events.push(event(
                    "a",
                    &c,
                    t + 20,
                    Payload::ContactSubmitted(ContactSubmitted {
                        request_id: Some(format!("r{i}")),
                        name: None,
                        email: Some(format!("v{i}@example.com")),
                        phone: None,
                        message: None,
                        chat_context: vec![],
                    }),
                ));
                s.contact += 1;
            }
        }
    }
    // Applied in reverse, so stages arrive before the loads they follow.
    events.reverse();
    app.given(events).await;

    let (status, body) = app
        .api()
        .funnel("website_id=a&from=2026-09-21&to=2026-09-21")
        .await;
    assert_eq!(status, 200, "{body}");
    let total = by_page.values().fold(Stages::default(), |a, s| Stages {
        loaded: a.loaded + s.loaded,
        engaged: a.engaged + s.engaged,
        loaded_engaged: a.loaded_engaged + s.loaded_engaged,
        cta: a.cta + s.cta,
        contact: a.contact + s.contact,
    });
    let stages = |v: &Value| Stages {
        loaded: v["loaded"].as_i64().unwrap(),
        engaged: v["engaged"].as_i64().unwrap(),
        loaded_engaged: v["loaded_engaged"].as_i64().unwrap(),
        cta: v["cta_clicked"].as_i64().unwrap(),
        contact: v["contact_submitted"].as_i64().unwrap(),
    };
    assert_eq!(stages(&body["stages"]), total);
    assert_eq!(
        body["rates"]["engaged_of_loaded"].as_f64().unwrap(),
        total.loaded_engaged as f64 / total.loaded as f64
    );
    for row in body["by_page"].as_array().unwrap() {
        let page = row["page_url"].as_str().unwrap();
        assert_eq!(stages(row), by_page[page], "{page}");
    }
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    let loaded_per_hour: Vec<i64> = series
        .iter()
        .map(|h| h["loaded"].as_i64().unwrap())
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(
        loaded_per_hour,
        by_hour.values().copied().collect::<Vec<_>>()
    );

    let (_, pricing) = app.api()
        .funnel("website_id=a&from=2026-09-21&to=2026-09-21&page_url=https%3A%2F%2Fshop.example%2Fpricing")
        .await;
    assert_eq!(stages(&pricing["stages"]), by_page[pages[0]]);
    assert_eq!(app.api().funnel("interval=week").await.0, 400);
}
