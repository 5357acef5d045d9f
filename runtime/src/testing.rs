//! Fresh, isolated resources for tests against the real Postgres and broker.
//!
//! The test command (`deploy/dev test`) starts a throwaway Postgres cluster and broker and
//! exports `COLLOQUY_TEST_DATABASE_URL` and `COLLOQUY_TEST_KAFKA_BROKERS`, and the country
//! database it installed as `COLLOQUY_TEST_COUNTRY_DB`. A test that needs them and finds them
//! unset panics with instructions: it never skips silently.

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

/// The IP-to-country database ingest reads (`deploy/country-db` installs it).
pub fn country_db() -> std::path::PathBuf {
    required("COLLOQUY_TEST_COUNTRY_DB").into()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Test databases are named `test_<unix seconds>_<uuid>`; those older than this are dropped
/// when a new one is made, so a long-lived cluster used for quick test loops does not fill the
/// disk (every test makes one and none is dropped at its end, to keep failures inspectable).
const KEEP_TEST_DATABASES_S: u64 = 6 * 3600;

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Creates an empty database with a unique name and returns its config.
pub async fn fresh_database() -> PostgresConfig {
    let admin_url = admin_database_url();
    let name = unique(&format!("test_{}", now_s()));
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Postgres at {admin_url}: {e}"));
    drop_old_databases(&mut conn).await;
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let (base, _) = admin_url.rsplit_once('/').unwrap_or((&admin_url, ""));
    let mut config = PostgresConfig::new(format!("{base}/{name}"));
    config.pool_size = 8;
    config
}

/// Drops the test databases made more than [`KEEP_TEST_DATABASES_S`] ago. Best effort: another
/// test process may be dropping the same ones.
async fn drop_old_databases(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let cutoff = now_s().saturating_sub(KEEP_TEST_DATABASES_S);
    for name in names {
        let made: Option<u64> = name.split('_').nth(1).and_then(|t| t.parse().ok());
        if made.is_some_and(|t| t < cutoff) {
            let _ = conn
                .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                .await;
        }
    }
}

/// A pool on `config`, connected now (tests want the failure here, not later).
/// A pool on the first read-model version, `public`, as the services' pools are: the search
/// path is set, so that the default one (`"$user", public`) cannot put what a migration creates
/// in the `colloquy` schema when the user is named `colloquy`, as the test cluster's is.
pub async fn connect(config: &PostgresConfig) -> PgPool {
    let pool = crate::read_models::pool_for_schema(config, "public")
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", config.url));
    if let Err(e) = pool.acquire().await {
        panic!("cannot connect to {}: {e}", config.url);
    }
    pool
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

/// The lines of the Rust files under `src` that add a route other than through
/// [`crate::documented::Api`] (`Router::route`, `nest`, a fallback), as `file:line: text`,
/// except in the functions named in `allowed` (each with its reason at the call site).
pub fn undocumented_routes(src: &std::path::Path, allowed: &[&str]) -> Vec<String> {
    const CALLS: [&str; 5] = [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        ".fallback(",
    ];
    let mut dirs = vec![src.to_path_buf()];
    let mut found = Vec::new();
    while let Some(path) = dirs.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).expect("read a source directory");
            dirs.extend(entries.map(|e| e.expect("read a source directory").path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let mut function = "";
        for (n, line) in text.lines().enumerate() {
            if let Some(name) = line
                .trim_start()
                .strip_prefix("pub fn ")
                .or_else(|| line.trim_start().strip_prefix("fn "))
            {
                function = name.split('(').next().unwrap_or_default();
            }
            let code = line.split("//").next().unwrap_or_default();
            if CALLS.iter().any(|call| code.contains(call)) && !allowed.contains(&function) {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// The value of the sample `name` (with its labels, as exposed: `x_total{outcome="ok"}`) in a
/// Prometheus text exposition; `None` when it is not there.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
