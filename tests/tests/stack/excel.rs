//! The Excel export, opened with a real spreadsheet reader (openpyxl): every contact a row,
//! below a frozen, filtered header; numbers as numbers, times as dates in the website's own
//! wall-clock time, a value that looks like a formula kept as text; and query-api's memory does
//! not grow with the number of rows. `COLLOQUY_EXCEL_CONTACTS` sets how many contacts
//! (20,000 by default; the figure is for 200,000).

use std::path::PathBuf;
use std::time::Duration;

use e2e::{ADMIN_TOKEN, Stack, WEBSITE};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::Command;

/// This process's peak resident memory, in KiB: query-api runs inside it.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn an_excel_export_of_every_contact_opens_typed_in_a_spreadsheet_reader() {
    let python = e2e::installed("COLLOQUY_PYTHON");
    let contacts = e2e::setting("COLLOQUY_EXCEL_CONTACTS", 20_000);
    let stack = Stack::start(1).await;
    // Kolkata is UTC+5:30: a contact first seen at 12:00:01Z was first seen at 17:30:01 there.
    let (status, body) = stack
        .admin(
            Method::PUT,
            &format!("/v1/websites/{WEBSITE}/time_zone"),
            ADMIN_TOKEN,
            Some(json!({"time_zone": "Asia/Kolkata"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The contacts read model, filled directly: the export reads nothing else.
    sqlx::query(
        "INSERT INTO contacts (website_id, contact_id, name, email, phone, channel,
                first_seen_at, last_activity_at, conversation_count, request_count, lead_status)
         SELECT $1, 'contact-' || lpad(g::text, 7, '0'),
                CASE g WHEN 1 THEN '=1+1' WHEN 2 THEN 'Zoë 😀' ELSE 'Person ' || g END,
                'p' || g || '@example.com', NULL, 'frame',
                timestamptz '2026-11-10 12:00:00Z' + g * interval '1 second',
                timestamptz '2026-11-11 12:00:00Z', g % 5, 1, 'new'
         FROM generate_series(1, $2) g",
    )
    .bind(WEBSITE)
    .bind(i64::try_from(contacts).unwrap())
    .execute(&stack.pool)
    .await
    .unwrap();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.data/test-artifacts/excel");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("contacts.xlsx");
    let before = peak_rss_kib();
    let mut response = stack
        .http
        .get(format!(
            "{}/v1/exports/contacts?format=xlsx&website_id={WEBSITE}",
            stack.query_url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"contacts.xlsx\""
    );
    let mut file = std::fs::File::create(&path).unwrap();
    while let Some(chunk) = response.chunk().await.unwrap() {
        std::io::Write::write_all(&mut file, &chunk).unwrap();
    }
    let grown_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!("{contacts} contacts: {size} bytes of xlsx; peak memory grew by {grown_mib} MiB");
    assert!(
        grown_mib < 50,
        "query-api's memory grew by {grown_mib} MiB for {contacts} rows"
    );

    // The CSV export of the same contacts is the reference for the header and the values.
    let csv = stack
        .http
        .get(format!(
            "{}/v1/exports/contacts?format=csv&website_id={WEBSITE}",
            stack.query_url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();

    let output = Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spreadsheet/read_xlsx.py"))
        .arg(&path)
        .arg("3")
        .output()
        .await
        .expect("run openpyxl");
    assert!(
        output.status.success(),
        "openpyxl could not read it:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read["rows"], contacts + 1, "a header and every contact");
    assert_eq!(read["header"], json!(header));
    assert_eq!(read["frozen"], true);
    assert_eq!(read["filtered"], true);
    let first = &read["sample"][0];
    let cell = |row: &Value, name: &str| row[column(name)].clone();
    // A value that looks like a formula is a string cell holding it as written.
    assert_eq!(cell(first, "name"), json!({"type": "s", "value": "=1+1"}));
    assert_eq!(
        cell(&read["sample"][1], "name"),
        json!({"type": "s", "value": "Zoë 😀"})
    );
    assert_eq!(
        cell(first, "conversation_count"),
        json!({"type": "n", "value": 1})
    );
    // Dates are numbers with a date format, which openpyxl reads as datetimes (type `d`).
    assert_eq!(
        cell(first, "first_seen_at"),
        json!({"type": "d", "value": "2026-11-10T17:30:01"})
    );
    assert_eq!(
        cell(first, "last_activity_at"),
        json!({"type": "d", "value": "2026-11-11T17:30:00"})
    );
    // An empty value is an empty cell.
    assert_eq!(cell(first, "phone")["value"], Value::Null);
}
