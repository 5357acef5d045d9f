//! Websites created or changed through the admin API while ingest runs: `POST /v1/websites`
//! answers once the projector stored the website, and its write key works from the next
//! request, with the privacy settings made for it; a privacy change reaches ingest when the
//! projector applies it. Neither waits for ingest's reload.

use chrono::Utc;
use projector::store::{Applied, apply_batch};
use runtime::postgres::PostgresConfig;
use schemas::Payload;
use schemas::payloads::{WebsiteCreated, WebsitePrivacy};
use sqlx::PgPool;

use super::*;

/// Ingest on a migrated database whose reload does not come during the test, looking up
/// `key_lookups_per_s` unknown keys a second.
async fn spawn_on(postgres: PostgresConfig, key_lookups_per_s: f64) -> TestApp {
    let mut config = config();
    config.websites_database = Some(postgres);
    config.websites_refresh_ms = 3_600_000;
    config.limits.key_lookups_per_s = key_lookups_per_s;
    spawn_app_with(config).await
}

/// What the projector stores when an admin's `payloads` about `website` are applied.
async fn apply(pool: &PgPool, website: &str, payloads: Vec<Payload>) {
    let applied: Vec<Applied> = payloads
        .into_iter()
        .map(|payload| Applied {
            partition: 0,
            offset: 0,
            event: schemas::testing::event(website, website, Utc::now(), payload),
        })
        .collect();
    apply_batch(pool, "t", &applied, &[]).await.unwrap();
}

fn privacy(website: &str, anonymize_ip: bool) -> Payload {
    Payload::WebsitePrivacyChanged(WebsitePrivacy {
        website_id: website.into(),
        anonymize_ip,
        retention_days: None,
        contact_review_months: None,
        record_country: None,
    })
}

/// An admin creates `website` with `key`, its visitors' addresses anonymised.
async fn create_website(pool: &PgPool, website: &str, key: &str) {
    let created = Payload::WebsiteCreated(WebsiteCreated {
        website_id: website.into(),
        name: website.into(),
        write_key: key.into(),
        allowed_origins: vec![],
    });
    apply(pool, website, vec![created, privacy(website, true)]).await;
}

/// The visitor's address in the latest event ingest stored.
async fn latest_ip(app: &TestApp, pool: &PgPool) -> Option<std::net::IpAddr> {
    let records = app.sink.records();
    let events = projector::opening::open(records.iter().map(|r| r.value.as_slice()), pool)
        .await
        .unwrap();
    events.into_iter().last().unwrap().unwrap().context.ip
}

/// Waits until ingest listens for the projector's announcements: a change made before would
/// be found by the reload ingest does once it listens, not by the announcement.
async fn listening(pool: &PgPool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let listeners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%colloquy_websites%'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if listeners > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The visitor's address of [`post_with`]'s requests, and the same anonymised.
const ADDRESS: &str = "198.51.100.23";
const ANONYMISED: &str = "198.51.100.0";

async fn post_with(app: &TestApp, key: &str) -> u16 {
    let headers = [
        ("X-Write-Key", key),
        ("X-Forwarded-For", ADDRESS),
        ("Content-Type", "application/json"),
    ];
    let body = serde_json::to_vec(&message("c-1", "user")).unwrap();
    app.post_to("/v1/events", &headers, body).await.0
}

#[tokio::test]
async fn a_website_created_while_ingest_runs_writes_from_its_first_request() {
    let (postgres, pool) = projector::testing::migrated_database().await;
    let app = spawn_on(postgres, 10.0).await;
    assert_eq!(post_with(&app, "new-key").await, 401, "not created yet");

    create_website(&pool, "new-site", "new-key").await;
    assert_eq!(post_with(&app, "new-key").await, 200);

    let stored: Value = serde_json::from_slice(&app.sink.records()[0].value).unwrap();
    assert_eq!(stored["website_id"], "new-site");
    assert_eq!(
        latest_ip(&app, &pool).await,
        Some(ANONYMISED.parse().unwrap()),
        "the website's privacy settings came with its key"
    );
}

#[tokio::test]
async fn a_privacy_change_reaches_ingest_when_the_projector_applies_it() {
    let (postgres, pool) = projector::testing::migrated_database().await;
    create_website(&pool, "site", "site-key").await;
    // No lookups: ingest admits the key because it loaded the websites before it served.
    let app = spawn_on(postgres, 0.0).await;
    assert_eq!(post_with(&app, "site-key").await, 200);
    assert_eq!(
        latest_ip(&app, &pool).await,
        Some(ANONYMISED.parse().unwrap())
    );

    listening(&pool).await;
    apply(&pool, "site", vec![privacy("site", false)]).await;
    // The reload is an hour away: only the projector's announcement brings the change.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        assert_eq!(post_with(&app, "site-key").await, 200);
        if latest_ip(&app, &pool).await == Some(ADDRESS.parse().unwrap()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the change never reached ingest"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
