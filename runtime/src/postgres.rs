//! Postgres connection pools.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::config::{ConfigError, Source};

#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `DATABASE_URL`, e.g. `postgres://colloquy@127.0.0.1:55432/colloquy`.
    pub url: String,
    /// `DATABASE_POOL_SIZE`.
    pub pool_size: u32,
    /// `DATABASE_CONNECT_TIMEOUT_MS`: how long to wait for a connection before failing.
    pub connect_timeout_ms: u64,
}

impl PostgresConfig {
    pub fn from_source(env: &impl Source, default_pool_size: u32) -> Result<Self, ConfigError> {
        Ok(Self {
            url: env.string_or(
                "DATABASE_URL",
                "postgres://colloquy@127.0.0.1:55432/colloquy",
            ),
            pool_size: env.parse_or("DATABASE_POOL_SIZE", default_pool_size)?,
            connect_timeout_ms: env.parse_or("DATABASE_CONNECT_TIMEOUT_MS", 5_000)?,
        })
    }

    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 4,
            connect_timeout_ms: 5_000,
        }
    }

    /// A pool that connects on first use, so a service can start while Postgres is down and
    /// report it through readiness instead of crashing.
    pub fn lazy_pool(&self) -> Result<PgPool, sqlx::Error> {
        PgPoolOptions::new()
            .max_connections(self.pool_size)
            .acquire_timeout(Duration::from_millis(self.connect_timeout_ms))
            .connect_lazy(&self.url)
    }
}
