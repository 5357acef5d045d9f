//! Exports: every format parses back, and the rows match the list totals for the same filters.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use schemas::Sender;
use serde_json::Value;

mod common;
use common::{TestApp, message, spawn_app, two_websites};

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

async fn download(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app.fetch(path, Some(common::TOKEN)).await;
    let status = response.status().as_u16();
    let disposition = response
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, disposition, response.text().await.unwrap())
}

#[tokio::test]
async fn every_format_parses_back_to_the_rows_the_list_counts() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    let (_, list) = app.get("/v1/conversations?website_id=a&limit=500").await;
    let total = list["total"].as_u64().unwrap() as usize;
    assert_eq!(total, 3);

    let (status, disposition, csv) = download(&app, "/v1/exports/conversations?website_id=a").await;
    assert_eq!(status, 200);
    assert_eq!(disposition, "attachment; filename=\"conversations.csv\"");
    let records = parse_csv(&csv);
    assert_eq!(
        records[0][0..3],
        ["website_id", "conversation_id", "status"]
    );
    assert_eq!(records.len() - 1, total);

    let (_, disposition, json) =
        download(&app, "/v1/exports/conversations?website_id=a&format=json").await;
    assert!(disposition.contains("conversations.json"));
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), total);
    let messages: i64 = rows
        .iter()
        .map(|r| r["message_count"].as_i64().unwrap())
        .sum();

    let (_, _, ndjson) = download(&app, "/v1/exports/messages?website_id=a&format=ndjson").await;
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, messages);
    assert!(
        lines
            .iter()
            .all(|m| m["id"].is_string() && m["sender"].is_string())
    );

    // The same filter as a list, the same rows.
    let (_, filtered) = app.get("/v1/conversations?requires_human=true").await;
    let (_, _, csv) = download(&app, "/v1/exports/conversations?requires_human=true").await;
    assert_eq!(
        parse_csv(&csv).len() - 1,
        filtered["total"].as_u64().unwrap() as usize
    );
}

#[tokio::test]
async fn contacts_and_events_export_and_cells_cannot_become_formulas() {
    let app = spawn_app().await;
    let events = two_websites();
    let event_count = events.len();
    app.given(events).await;
    let (_, list) = app.get("/v1/contacts").await;
    let (_, _, csv) = download(&app, "/v1/exports/contacts").await;
    let records = parse_csv(&csv);
    assert_eq!(records.len() - 1, list["total"].as_u64().unwrap() as usize);
    let phone = records[0].iter().position(|h| h == "phone").unwrap();
    assert_eq!(records[1][phone], "'+482-719-364");

    let (_, _, csv) = download(&app, "/v1/exports/events?from=2026-09-01&to=2026-09-30").await;
    assert_eq!(parse_csv(&csv).len() - 1, event_count);
    let (_, _, csv) = download(
        &app,
        "/v1/exports/events?from=2026-09-01&to=2026-09-30&type=message.sent&website_id=a",
    )
    .await;
    assert_eq!(parse_csv(&csv).len() - 1, 3);
}

#[tokio::test]
async fn a_large_export_streams_every_row() {
    let app = spawn_app().await;
    let events: Vec<_> = (0..3_000)
        .map(|i| {
            message(
                "a",
                &format!("c{i:05}"),
                i,
                Sender::User,
                "a line, with \"quotes\"\nand a break",
            )
        })
        .collect();
    app.given(events).await;
    let (status, _, csv) = download(&app, "/v1/exports/messages?format=csv").await;
    assert_eq!(status, 200);
    let records = parse_csv(&csv);
    assert_eq!(records.len() - 1, 3_000);
    let text = records[0].iter().position(|h| h == "text").unwrap();
    assert!(
        records[1..]
            .iter()
            .all(|r| r[text] == "a line, with \"quotes\"\nand a break")
    );
}

#[tokio::test]
async fn bad_export_requests_are_4xx() {
    let app = spawn_app().await;
    assert_eq!(
        download(&app, "/v1/exports/conversations?format=xml")
            .await
            .0,
        400
    );
    assert_eq!(
        download(&app, "/v1/exports/conversations?colour=red")
            .await
            .0,
        400
    );
    assert_eq!(download(&app, "/v1/exports/everything").await.0, 404);
    assert_eq!(download(&app, "/v1/exports/events?from=nope").await.0, 400);
}

#[tokio::test]
async fn the_first_response_is_the_earliest_timed_bot_message_whichever_arrived_first() {
    let app = spawn_app().await;
    let bot = |seconds, ms| {
        let mut e = message("a", "c1", seconds, Sender::Bot, "answer");
        if let schemas::Payload::MessageSent(m) = &mut e.payload {
            m.response_time_ms = ms;
        }
        e
    };
    // Two batches, the later response first: the stored row is merged in SQL, not in one fold.
    app.given(vec![
        message("a", "c1", 1, Sender::User, "hi"),
        bot(9, Some(300)),
    ])
    .await;
    app.given(vec![bot(2, None), bot(5, Some(900))]).await;
    let (_, _, csv) = download(&app, "/v1/exports/conversations?website_id=a").await;
    let records = parse_csv(&csv);
    let column = |name: &str| records[0].iter().position(|h| h == name).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1][column("first_response_ms")], "900");
    assert_eq!(records[1][column("avg_bot_response_ms")], "600");
    assert_eq!(records[1][column("bot_messages")], "3");

    let (_, _, json) = download(&app, "/v1/exports/conversations?website_id=a&format=json").await;
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["first_response_ms"], 900);
    assert_eq!(rows[0]["avg_bot_response_ms"], 600.0);
    assert_eq!(rows[0]["status"], "active");
}

/// An export, a subject export, a read, an error and the dashboard all say what they are, and
/// the exports of personal data are kept by no cache on the way.
#[tokio::test]
async fn answers_carry_nosniff_and_personal_exports_no_store() {
    let app = spawn_app().await;
    app.given(two_websites()).await;
    for (path, token, no_store) in [
        (
            "/v1/exports/conversations?website_id=a",
            Some(common::TOKEN),
            true,
        ),
        (
            "/v1/exports/contacts?format=ndjson",
            Some(common::TOKEN),
            true,
        ),
        (
            "/v1/subjects/export?customer_id=nobody",
            Some(common::TOKEN),
            true,
        ),
        ("/v1/conversations?website_id=a", Some(common::TOKEN), false),
        ("/v1/conversations", None, false),
        ("/admin", None, false),
    ] {
        let response = app.fetch(path, token).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        if no_store {
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(
                header("cache-control").as_deref(),
                Some("no-store"),
                "{path}"
            );
        }
    }
}
