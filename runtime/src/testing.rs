//! Fresh, isolated resources for tests against the real Postgres and broker.
//!
//! The test command (`deploy/dev test`) starts a throwaway Postgres cluster and broker and
//! exports `COLLOQUY_TEST_DATABASE_URL` and `COLLOQUY_TEST_KAFKA_BROKERS`. A test that needs
//! them and finds them unset panics with instructions: it never skips silently.

use sqlx::postgres::PgPool;
use sqlx::{Connection, Executor, PgConnection};

use crate::kafka::{KafkaConfig, ensure_topics};
use crate::postgres::PostgresConfig;

fn required(name: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!("{name} is not set: this test needs the real service; run it through `deploy/dev test`")
    })
}

/// A URL of the test cluster's maintenance database.
pub fn admin_database_url() -> String {
    required("COLLOQUY_TEST_DATABASE_URL")
}

/// The test broker's bootstrap servers.
pub fn kafka() -> KafkaConfig {
    KafkaConfig::new(required("COLLOQUY_TEST_KAFKA_BROKERS"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Creates an empty database with a unique name and returns its config.
pub async fn fresh_database() -> PostgresConfig {
    let admin_url = admin_database_url();
    let name = unique("test");
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Postgres at {admin_url}: {e}"));
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let (base, _) = admin_url.rsplit_once('/').unwrap_or((&admin_url, ""));
    let mut config = PostgresConfig::new(format!("{base}/{name}"));
    config.pool_size = 8;
    config
}

/// A pool on `config`, connected now (tests want the failure here, not later).
pub async fn connect(config: &PostgresConfig) -> PgPool {
    PgPool::connect(&config.url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", config.url))
}

/// Creates a topic with a unique name and `partitions` partitions and returns its name.
pub async fn fresh_topic(prefix: &str, partitions: i32) -> String {
    let name = unique(prefix).replace('_', "-");
    let kafka = kafka();
    ensure_topics(&kafka, &[(&name, partitions)])
        .await
        .unwrap_or_else(|e| panic!("cannot create topic {name} on {}: {e}", kafka.brokers));
    name
}
