//! Retention with an injected clock: the job decides cut-offs as events, the projector clears
//! raw IP addresses and message texts before them (also for data arriving after the cut-off),
//! counts stay, and contacts inactive for longer than the review period are listed for review.

use chrono::{DateTime, Duration, Utc};
use schemas::Sender;
use serde_json::json;

use crate::common::{message, spawn_app, submitted};

async fn user_messages(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(sum(user_messages), 0)::int8 FROM started_quarters")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
}

/// `schemas::testing::at(0)`, the fixture's epoch.
fn epoch() -> DateTime<Utc> {
    schemas::testing::at(0)
}

#[tokio::test]
async fn the_job_clears_old_addresses_and_texts_once_and_late_data_too() {
    let app = spawn_app().await;
    let day = 86_400;
    let mut old = submitted("a", "old", 10, "olivia@lumoco.dev", "req-old");
    old.context.ip = Some("203.0.113.9".parse().unwrap());
    app.given(vec![
        message("a", "old", 0, Sender::User, "an old question"),
        old,
        message("a", "new", 100 * day, Sender::User, "a recent question"),
    ])
    .await;
    let before_count = user_messages(&app.pool).await;

    // 120 days after the epoch, with the default 90 days: the start of the day 90 days before.
    let now = epoch() + Duration::days(120) + Duration::hours(5);
    let due = query_api::retention::run_once(&app.state, now)
        .await
        .unwrap();
    assert_eq!(
        due,
        vec![("a".to_owned(), midnight(now - Duration::days(90)))]
    );
    assert!(
        query_api::retention::run_once(&app.state, now + Duration::hours(1))
            .await
            .unwrap()
            .is_empty(),
        "decided once a day"
    );

    let texts: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT conversation_id, text FROM messages ORDER BY conversation_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        texts,
        vec![
            ("new".to_owned(), Some("a recent question".to_owned())),
            ("old".to_owned(), None),
        ]
    );
    let ips: Vec<Option<String>> =
        sqlx::query_scalar("SELECT ip_address FROM contact_requests WHERE request_id = 'req-old'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ips, vec![None]);
    let logged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM event_log
         WHERE conversation_id = 'old' AND (context ? 'ip' OR payload ? 'text')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(logged, 0);

    // A message from before the cut-off that arrives only now is cleared as it lands.
    app.given(vec![message("a", "late", 5, Sender::User, "late and old")])
        .await;
    let late: Option<String> =
        sqlx::query_scalar("SELECT text FROM messages WHERE conversation_id = 'late'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(late, None);

    // Counts do not change: the late message is counted, the cleared ones still are.
    assert_eq!(user_messages(&app.pool).await, before_count + 1);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 3, "old, new and late: every row stays");
}

#[tokio::test]
async fn retention_and_review_periods_are_website_settings() {
    let app = spawn_app().await;
    let (status, body) = app
        .api()
        .set_privacy(
            "a",
            json!({"anonymize_ip": false, "retention_days": 7, "contact_review_months": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, settings) = app.api().privacy("a").await;
    assert_eq!(
        (
            settings["retention_days"].as_i64(),
            settings["contact_review_months"].as_i64()
        ),
        (Some(7), Some(1))
    );
    app.given(vec![submitted("a", "c1", 0, "olivia@lumoco.dev", "r1")])
        .await;
    let now = epoch() + Duration::days(10);
    let due = query_api::retention::run_once(&app.state, now)
        .await
        .unwrap();
    assert_eq!(
        due,
        vec![("a".to_owned(), midnight(now - Duration::days(7)))]
    );

    // The contact's last activity is the epoch, long over a month ago: due for review.
    let (status, review) = app.api().contacts("website_id=a&review_due=true").await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(review["total"], 1);
    let (_, zero) = app
        .call(
            reqwest::Method::PUT,
            "/v1/websites/a/privacy",
            crate::common::TOKEN,
            Some(json!({"anonymize_ip": false, "retention_days": 0})),
        )
        .await;
    assert_eq!(zero["error"], "bad_request", "{zero}");
    assert!(
        zero["message"].as_str().unwrap().contains("retention_days"),
        "{zero}"
    );
}
