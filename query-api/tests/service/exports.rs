//! Exports: every format parses back, and the rows match the list totals for the same filters.

use std::time::Duration;

use schemas::Sender;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{TOKEN, TestApp, message, spawn_app, spawn_app_with, two_websites};

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
    let response = app.fetch(path, Some(crate::common::TOKEN)).await;
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
    let (_, list) = app.api().conversations("website_id=a&limit=500").await;
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
    let (_, filtered) = app.api().conversations("requires_human=true").await;
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
    let (_, list) = app.api().contacts("").await;
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
            Some(crate::common::TOKEN),
            true,
        ),
        (
            "/v1/exports/contacts?format=ndjson",
            Some(crate::common::TOKEN),
            true,
        ),
        (
            "/v1/subjects/export?customer_id=nobody",
            Some(crate::common::TOKEN),
            true,
        ),
        (
            "/v1/conversations?website_id=a",
            Some(crate::common::TOKEN),
            false,
        ),
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
    // The HTML pages say what they may load: the docs their inline style only, no script.
    for (path, script) in [("/docs", "script-src"), ("/admin", "script-src 'self'")] {
        let response = app.fetch(path, None).await;
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        if path == "/docs" {
            assert!(policy.starts_with("default-src 'none'"), "{policy}");
            assert!(!policy.contains(script), "{policy}");
        } else {
            assert!(policy.contains(script), "{policy}");
        }
    }
}

/// Asks for `path` on a socket whose receive buffer is tiny, reads the answer's first 512 bytes
/// and then stops reading, as a client that means to hold the export open would.
async fn stalled_download(app: &TestApp, path: &str, token: &str) -> (String, TcpStream) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let addr = app.url.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: colloquy\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0; 512];
    stream.read_exact(&mut head).await.unwrap();
    (String::from_utf8_lossy(&head).into_owned(), stream)
}

/// Exports hold a pooled connection while they stream: clients that stop reading must neither
/// take the connections every other read needs, nor keep theirs beyond the stall deadline.
#[tokio::test]
async fn clients_that_stop_reading_cannot_starve_other_reads() {
    let app = spawn_app_with(|c| {
        c.limits.exports_per_token = 1;
        c.limits.exports_max = 2;
        c.limits.export_stall = Duration::from_secs(2);
    })
    .await;
    app.given(two_websites()).await;
    // About 20 MB of JSON: more than the socket buffers between the export and its client hold.
    sqlx::query(
        "INSERT INTO event_log
             SELECT gen_random_uuid(), 'message.sent', 1, 'a', 'bulk-' || i,
                    '2026-08-01T10:00:00Z'::timestamptz + i * interval '1 ms', now(), '{}',
                    jsonb_build_object('text', repeat('x', 1000)), 0, i
               FROM generate_series(1, 20000) i",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let path = "/v1/exports/events?format=json&from=2026-08-01&to=2026-08-01";
    let mut tokens = vec![TOKEN.to_owned()];
    for _ in 0..8 {
        tokens.push(app.token_for(&["a"]).await);
    }

    // As many stalled clients as the pool has connections, one per token.
    let (head, mut first) = stalled_download(&app, path, &tokens[0]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _second) = stalled_download(&app, path, &tokens[1]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for token in &tokens[2..] {
        let refused = app.fetch(path, Some(token)).await;
        assert_eq!(refused.status(), 503, "the server's limit");
        assert!(refused.headers().contains_key("retry-after"));
    }
    let again = app.fetch(path, Some(&tokens[1])).await;
    assert_eq!(again.status(), 429, "the token's own limit");
    assert!(again.headers().contains_key("retry-after"));

    // Every other read is answered meanwhile, more of them at once than the pool holds.
    let api = app.api();
    let reads = (0..16).map(|_| api.conversations("website_id=a"));
    for (status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, 200, "{body}");
    }

    // Past the stall deadline the stalled exports are ended and their slots come back: a new
    // export runs to its end.
    let full = loop {
        let response = app.fetch(path, Some(&tokens[2])).await;
        if response.status() == 200 {
            break response.text().await.unwrap();
        }
        assert_eq!(response.status(), 503);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rows: Vec<Value> = serde_json::from_str(&full).unwrap();
    assert_eq!(rows.len(), 20_000);
    // The stalled client's download is cut short: it never gets the chunked body's end.
    let mut rest = Vec::new();
    let _ = first.read_to_end(&mut rest).await;
    assert!(!rest.ends_with(b"0\r\n\r\n"), "a complete-looking download");
}
