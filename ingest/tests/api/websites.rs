//! Websites created through the admin API while ingest runs: `POST /v1/websites` answers once
//! the projector stored the website, and its write key works from the next request, with the
//! privacy settings made for it, not only after ingest's next reload.

use chrono::Utc;
use projector::store::{Applied, MIGRATOR, apply_batch};
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

async fn migrated_database() -> (PostgresConfig, PgPool) {
    let postgres = runtime::testing::fresh_database().await;
    let pool = runtime::testing::connect(&postgres).await;
    projector::versions::ensure_meta(&pool).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    (postgres, pool)
}

/// What the projector stores when an admin creates `website` with `key`, its visitors'
/// addresses anonymised.
async fn create_website(pool: &PgPool, website: &str, key: &str) {
    let payloads = [
        Payload::WebsiteCreated(WebsiteCreated {
            website_id: website.into(),
            name: website.into(),
            write_key: key.into(),
            allowed_origins: vec![],
        }),
        Payload::WebsitePrivacyChanged(WebsitePrivacy {
            website_id: website.into(),
            anonymize_ip: true,
            retention_days: None,
            contact_review_months: None,
            record_country: None,
        }),
    ];
    let applied: Vec<Applied> = payloads
        .into_iter()
        .enumerate()
        .map(|(offset, payload)| Applied {
            partition: 0,
            offset: offset as i64,
            event: schemas::testing::event(website, website, Utc::now(), payload),
        })
        .collect();
    apply_batch(pool, "t", &applied, &[(0, applied.len() as i64)])
        .await
        .unwrap();
}

async fn post_with(app: &TestApp, key: &str) -> u16 {
    let headers = [
        ("X-Write-Key", key),
        ("X-Forwarded-For", "198.51.100.23"),
        ("Content-Type", "application/json"),
    ];
    let body = serde_json::to_vec(&message("c-1", "user")).unwrap();
    app.post_to("/v1/events", &headers, body).await.0
}

#[tokio::test]
async fn a_website_created_while_ingest_runs_writes_from_its_first_request() {
    let (postgres, pool) = migrated_database().await;
    let app = spawn_on(postgres, 10.0).await;
    assert_eq!(post_with(&app, "new-key").await, 401, "not created yet");

    create_website(&pool, "new-site", "new-key").await;
    assert_eq!(post_with(&app, "new-key").await, 200);

    let records = app.sink.records();
    let events = projector::opening::open(records.iter().map(|r| r.value.as_slice()), &pool)
        .await
        .unwrap();
    let event = events.into_iter().next().unwrap().unwrap();
    assert_eq!(event.website_id, "new-site");
    assert_eq!(
        event.context.ip,
        Some("198.51.100.0".parse().unwrap()),
        "the website's privacy settings came with its key"
    );
}

#[tokio::test]
async fn without_lookups_ingest_knows_the_websites_of_its_start_and_later_ones_wait() {
    let (postgres, pool) = migrated_database().await;
    create_website(&pool, "old-site", "old-key").await;
    let app = spawn_on(postgres, 0.0).await;
    create_website(&pool, "new-site", "new-key").await;

    assert_eq!(
        post_with(&app, "old-key").await,
        200,
        "loaded before serving"
    );
    assert_eq!(
        post_with(&app, "new-key").await,
        401,
        "known from the next reload, an hour away"
    );
}
