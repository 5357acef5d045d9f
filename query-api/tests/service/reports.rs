//! Weekly e-mail reports, sent over SMTP to a mail catcher each test starts
//! (`runtime::mailsink`): recipients, subject and figures, the schedule in each website's time
//! zone, once per week whatever happens, and nothing while a rebuild runs.

use chrono::{DateTime, Utc};
use query_api::mail::{Mailer, Security};
use query_api::reports;
use runtime::mailsink::{Mail, MailSink};
use serde_json::{Value, json};

use crate::common::{TestApp, mail_config, spawn_app, spawn_app_with};

/// `BOT_QUALITY_QUESTIONS` as configured by default.
const QUESTIONS: i64 = 5_000;

async fn sink() -> MailSink {
    MailSink::start("127.0.0.1:0", None).await.unwrap()
}

async fn app_mailing_to(sink: &MailSink) -> TestApp {
    let config = mail_config(sink, Security::None);
    spawn_app_with(|c| c.email = Some(config)).await
}

/// `crate::common::two_websites`, with the pages their widgets loaded on.
fn traffic() -> Vec<schemas::Event> {
    let mut events = crate::common::two_websites();
    for e in &mut events {
        e.context.page_url = Some(format!("https://{}.example/pricing", e.website_id));
    }
    events
}

/// [`traffic`] applied, on websites that keep what visitors wrote for ten years: the fixture's
/// weeks (September 2026) stay within their retention whatever day the tests run on.
async fn given_traffic(app: &TestApp) {
    app.given(traffic()).await;
    for website in ["a", "b"] {
        let (status, body) = app
            .api()
            .set_privacy(
                website,
                json!({"anonymize_ip": false, "retention_days": 3650}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Website a's report goes to ops@a.example, on the default schedule.
async fn reports_to_ops_of_a(app: &TestApp) {
    let (status, body) = app
        .api()
        .set_report_settings("a", json!({"recipients": ["ops@a.example"]}))
        .await;
    assert_eq!(status, 200, "{body}");
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The figure on the text part's line for `label`, this week's column.
fn figure(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{text}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn count(stats: &Value, key: &str) -> String {
    stats["current"][key].as_i64().unwrap().to_string()
}

#[tokio::test]
async fn a_weekly_report_reaches_its_recipients_with_the_figures_the_stats_api_gives() {
    let sink = sink().await;
    let app = app_mailing_to(&sink).await;
    given_traffic(&app).await;
    let recipients = json!(["ops@a.example", "owner@a.example"]);
    let (status, body) = app
        .api()
        .set_report_settings(
            "a",
            json!({"recipients": recipients, "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["weekday"], 1);
    assert_eq!(body["hour"], 8);
    let (_, settings) = app.api().report_settings("a").await;
    assert_eq!(settings["recipients"], recipients);
    assert_eq!(settings["time_zone"], "Europe/Berlin");

    // The traffic is on Monday 2026-09-21: any day of its week names it.
    let (status, body) = app.api().weekly_reports("week=2026-09-24").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "report_sent");
    assert_eq!(
        body["reports"],
        json!([{"website_id": "a", "from": "2026-09-21", "to": "2026-09-27", "status": "sent", "recipients": 2}])
    );
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "sent before the answer, once");
    let mail: &Mail = &mails[0];
    assert_eq!(mail.to, ["ops@a.example", "owner@a.example"]);
    assert_eq!(mail.from, "reports@colloquy.example");
    assert_eq!(
        mail.header("subject").as_deref(),
        Some("Weekly report for a: 2026-09-21 to 2026-09-27")
    );

    let (_, stats) = app
        .api()
        .stats("website_id=a&from=2026-09-21&to=2026-09-27")
        .await;
    let text = mail.part("text/plain").unwrap();
    for (label, key) in [
        ("Widget loads", "widget_loads"),
        ("Engaged conversations", "engaged_conversations"),
        ("Messages", "messages"),
        ("Unique visitors", "unique_visitors"),
        ("CTA clicks", "cta_clicks"),
        ("Contact requests", "contact_requests"),
        ("Handed to a human", "escalated_conversations"),
    ] {
        assert_eq!(figure(&text, label), count(&stats, key), "{label}");
    }
    for (label, key) in [
        ("Conversion rate", "conversion_rate"),
        ("Handoff rate", "escalation_rate"),
        ("Containment rate", "containment_rate"),
        ("CSAT (rated 4-5)", "csat"),
    ] {
        let expected = stats["current"][key]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        assert_eq!(figure(&text, label), expected, "{label}");
    }
    assert!(text.contains("2026-09-14 to 2026-09-20"), "{text}");
    assert!(text.contains("https://a.example/pricing"), "{text}");
    assert!(
        !text.contains("b.example"),
        "another website's page: {text}"
    );
    assert!(
        text.contains("Open contact requests: 1 pending, 0 contacted"),
        "{text}"
    );
    assert!(
        text.contains("Olivia Bennett <olivia@lumoco.dev>"),
        "{text}"
    );
    // The biggest groups of questions the bot could not handle, as GET /v1/bot-quality has
    // them for the same week.
    let (_, quality) = app
        .api()
        .bot_quality("website_id=a&from=2026-09-21&to=2026-09-27&limit=5")
        .await;
    let groups = quality["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{quality}");
    let section = &text[text.find("Questions the bot could not handle").unwrap()..];
    for g in groups {
        let line = format!(
            "  {}\n    asked {} times: {} answered unsure, {} handed to a human, {} unanswered",
            g["example"].as_str().unwrap(),
            g["count"],
            g["unsure"],
            g["handed_off"],
            g["unanswered"]
        );
        assert!(section.contains(&line), "{line:?} in {section}");
    }
    assert!(section.contains("How much is the Pro plan?"), "{section}");
    let html = mail.part("text/html").unwrap();
    assert!(
        html.contains("Questions the bot could not handle"),
        "{html}"
    );
    assert!(html.contains("Book a demo"), "{html}");
    assert!(html.contains("Open contact requests: 1 pending"), "{html}");
    assert!(html.contains("https://a.example/pricing"), "{html}");

    // Again, as a scheduler retrying would: nothing more is sent.
    let (status, again) = app.api().weekly_reports("week=2026-09-21").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["reports"][0]["status"], "already_sent");
    assert!(again["reports"][0]["sent_at"].is_string());
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn the_schedule_sends_each_week_once_in_the_websites_time_zone_across_restarts() {
    let sink = sink().await;
    let app = app_mailing_to(&sink).await;
    given_traffic(&app).await;
    for (website, zone) in [("a", "UTC"), ("b", "America/New_York")] {
        let (status, body) = app
            .api()
            .set_report_settings(
                website,
                json!({"recipients": [format!("ops@{website}.example")], "time_zone": zone}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let mailer = || Mailer::new(&mail_config(&sink, Security::None)).unwrap();
    let run = |now: &str| {
        let (pool, mailer, now) = (app.pool.clone(), mailer(), at(now));
        async move {
            reports::run_once(&pool, &mailer, now, QUESTIONS)
                .await
                .unwrap()
        }
    };
    let websites = |sent: Vec<(String, _, _)>| sent.into_iter().map(|s| s.0).collect::<Vec<_>>();

    // Monday 2026-09-28: 07:59 UTC is before the hour everywhere.
    assert!(run("2026-09-28T07:59:00Z").await.is_empty());
    // 08:30 UTC is 04:30 in New York: only a's.
    assert_eq!(websites(run("2026-09-28T08:30:00Z").await), ["a"]);
    // Each run is a new mailer, as after a restart: the week is not sent again.
    assert!(run("2026-09-28T09:00:00Z").await.is_empty());
    // 12:30 UTC is 08:30 in New York.
    assert_eq!(websites(run("2026-09-28T12:30:00Z").await), ["b"]);
    assert!(run("2026-09-28T23:00:00Z").await.is_empty());
    let mails = sink.mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].to, ["ops@a.example"]);
    assert_eq!(mails[1].to, ["ops@b.example"]);
    for mail in &mails {
        assert!(
            mail.header("subject")
                .unwrap()
                .ends_with("2026-09-21 to 2026-09-27")
        );
    }
    // A day later the missed chance has passed: nothing is caught up a week late.
    assert!(run("2026-09-29T13:00:00Z").await.is_empty());
    // The next week's comes on its Monday.
    assert_eq!(websites(run("2026-10-05T08:00:00Z").await), ["a"]);
}

#[tokio::test]
async fn nothing_is_sent_while_a_rebuild_runs() {
    let sink = sink().await;
    let app = app_mailing_to(&sink).await;
    given_traffic(&app).await;
    reports_to_ops_of_a(&app).await;
    projector::versions::ensure_meta(&app.pool).await.unwrap();
    let building = projector::versions::create_next(&app.pool).await.unwrap();

    let response = app
        .send(
            reqwest::Method::POST,
            "/reports/weekly?week=2026-09-21",
            Some(crate::common::TOKEN),
            None,
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let mailer = Mailer::new(&mail_config(&sink, Security::None)).unwrap();
    assert!(
        reports::run_once(&app.pool, &mailer, at("2026-09-28T08:30:00Z"), QUESTIONS)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(sink.mails().is_empty());

    // Once the rebuild is over, the week's report goes out.
    sqlx::query("UPDATE colloquy.read_models SET state = 'failed' WHERE version = $1")
        .bind(building.version)
        .execute(&app.pool)
        .await
        .unwrap();
    let sent = reports::run_once(&app.pool, &mailer, at("2026-09-28T08:30:00Z"), QUESTIONS)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn a_refused_report_is_a_retryable_error_and_goes_out_on_the_next_try() {
    let sink = sink().await;
    let app = app_mailing_to(&sink).await;
    given_traffic(&app).await;
    reports_to_ops_of_a(&app).await;
    sink.refuse(true);
    let (status, body) = app.api().weekly_reports("week=2026-09-21").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not sent"),
        "{body}"
    );
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM colloquy.report_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(claims, 0, "a refused report is not recorded as sent");

    sink.refuse(false);
    let (status, body) = app.api().weekly_reports("week=2026-09-21").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reports"][0]["status"], "sent");
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn a_server_without_starttls_gets_nothing_when_starttls_is_required() {
    let sink = sink().await;
    let config = mail_config(&sink, Security::StartTls);
    let app = spawn_app_with(|c| c.email = Some(config)).await;
    given_traffic(&app).await;
    reports_to_ops_of_a(&app).await;
    let (status, body) = app.api().weekly_reports("week=2026-09-21").await;
    assert_eq!(status, 503, "{body}");
    assert!(sink.mails().is_empty(), "nothing crosses unencrypted");
}

#[tokio::test]
async fn report_settings_and_requests_that_cannot_work_are_refused_clearly() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"recipients": ["not-an-address"]}), "recipients[0]"),
        (
            json!({"recipients": ["a@b.example"], "time_zone": "Mars/Olympus"}),
            "time_zone",
        ),
        (
            json!({"recipients": ["a@b.example"], "weekday": 8}),
            "weekday",
        ),
        (json!({"recipients": ["a@b.example"], "hour": 24}), "hour"),
        (json!({"recipients": ["a@b.example"], "cc": []}), "cc"),
    ] {
        let (status, answer) = app.api().set_report_settings("a", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    // No mail server configured: says what is missing.
    let (status, body) = app.api().weekly_reports("").await;
    assert_eq!(status, 501, "{body}");
    assert!(body["message"].as_str().unwrap().contains("EMAIL_HOST"));
    // A token limited to b cannot set a's.
    let token = app.token_for(&["b"]).await;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/v1/websites/a/reports",
            &token,
            Some(json!({"recipients": ["a@b.example"]})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn asking_for_reports_no_one_receives_is_a_conflict_not_a_false_success() {
    let sink = sink().await;
    let app = app_mailing_to(&sink).await;
    let (status, body) = app.api().weekly_reports("").await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("recipients"));
    // A week not over yet is refused, not sent half-full.
    reports_to_ops_of_a(&app).await;
    let today = Utc::now().date_naive();
    let (status, body) = app.api().weekly_reports(&format!("week={today}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(sink.mails().is_empty());
}

/// A report quotes what visitors wrote: a week the website no longer keeps is refused, and
/// however a token asks, a website gets at most `REPORT_SENDS_PER_DAY` reports a day.
#[tokio::test]
async fn reports_cannot_be_sent_for_forgotten_weeks_or_without_end() {
    let sink = sink().await;
    let app = app_mailing_to(&sink).await;
    reports_to_ops_of_a(&app).await;
    let today = Utc::now().date_naive();
    // The default retention is 90 days: a week from before it, or year 1, is refused.
    for week in [
        "0001-01-01".to_owned(),
        (today - chrono::Days::new(120)).to_string(),
    ] {
        let (status, body) = app.api().weekly_reports(&format!("week={week}")).await;
        assert_eq!(status, 400, "{week}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("retention"),
            "{body}"
        );
    }
    assert!(sink.mails().is_empty());

    // Three weeks within it go out; a fourth is refused until a day has passed.
    let week = |weeks_ago: u64| (today - chrono::Days::new(7 * weeks_ago)).to_string();
    for weeks_ago in 1..=3 {
        let (status, body) = app
            .api()
            .weekly_reports(&format!("week={}", week(weeks_ago)))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let response = app
        .send(
            reqwest::Method::POST,
            &format!("/reports/weekly?week={}", week(4)),
            Some(crate::common::TOKEN),
            None,
        )
        .await;
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 3600, "a day's window, not seconds: {wait}");
    // Asking again for a week already sent sends nothing and is not refused.
    let (status, body) = app.api().weekly_reports(&format!("week={}", week(1))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reports"][0]["status"], "already_sent", "{body}");
    assert_eq!(sink.mails().len(), 3);
}
