//! TLS to Postgres: against a server that accepts TLS only, a `DATABASE_URL` with
//! `sslmode=verify-full` and the CA connects encrypted (the services' own pool, and the
//! projector binary migrating), and one trusting another CA is refused.

use std::path::Path;

use e2e::faults::PrivatePostgres;
use runtime::postgres::PostgresConfig;

fn url(server: &PrivatePostgres, mode: &str, ca: &Path) -> String {
    format!("{}?sslmode={mode}&sslrootcert={}", server.url, ca.display())
}

#[tokio::test]
async fn services_reach_postgres_over_tls_and_check_its_certificate() {
    let (server, ca) = PrivatePostgres::start_with_tls().await;

    let pool = PostgresConfig::new(url(&server, "verify-full", &ca))
        .lazy_pool()
        .unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("connect with sslmode=verify-full");
    assert!(encrypted);
    pool.close().await;

    // The projector binary, configured as a deployment would be.
    let migrated = tokio::process::Command::new(e2e::bin_dir().join("projector"))
        .arg("migrate")
        .env("DATABASE_URL", url(&server, "verify-full", &ca))
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        migrated.status.success(),
        "projector migrate over TLS: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    // A certificate signed by a CA the client does not trust is refused ...
    let other = std::env::temp_dir().join(format!("colloquy-other-ca-{}", uuid::Uuid::new_v4()));
    let other_ca = e2e::tls::Certificates::make(&other, "127.0.0.1", None).ca;
    let refused = PostgresConfig::new(url(&server, "verify-full", &other_ca))
        .lazy_pool()
        .unwrap();
    let error = sqlx::query("SELECT 1").execute(&refused).await.unwrap_err();
    assert!(
        format!("{error}").to_lowercase().contains("certificate"),
        "refused for its certificate: {error}"
    );
    // ... and so is a plain connection.
    let plain = PostgresConfig::new(format!("{}?sslmode=disable", server.url))
        .lazy_pool()
        .unwrap();
    assert!(sqlx::query("SELECT 1").execute(&plain).await.is_err());
    let _ = std::fs::remove_dir_all(other);
}
