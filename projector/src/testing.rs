//! What tests in every crate need of the projector (feature `testing`).

use runtime::postgres::PostgresConfig;
use sqlx::PgPool;

/// A new database as `projector migrate` leaves it before any service starts: the metadata
/// schema, and the read models in `public`. Its configuration, and a pool on `public`.
pub async fn migrated_database() -> (PostgresConfig, PgPool) {
    let postgres = runtime::testing::fresh_database().await;
    let pool = runtime::testing::connect(&postgres).await;
    crate::versions::ensure_meta(&pool)
        .await
        .expect("create the metadata schema");
    crate::store::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate the test database");
    (postgres, pool)
}
