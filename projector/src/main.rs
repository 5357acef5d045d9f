//! The projector binary.
//!
//! - `projector` or `projector run`: migrate, then consume until SIGINT/SIGTERM.
//! - `projector migrate`: apply the read-model migrations and exit.
//! - `projector setup`: create the topics (if missing), migrate, and exit.

use std::sync::Arc;

use anyhow::Context;
use projector::ProjectorConfig;
use projector::consumer::{self, Health};
use projector::store::MIGRATOR;
use runtime::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    runtime::telemetry::init();
    let config = ProjectorConfig::from_source(&Env).context("invalid configuration")?;
    let command = std::env::args().nth(1).unwrap_or_else(|| "run".to_owned());
    let pool = config
        .postgres
        .lazy_pool()
        .context("invalid DATABASE_URL")?;
    match command.as_str() {
        "migrate" => migrate(&pool).await,
        "setup" => {
            runtime::kafka::ensure_topics(
                &config.kafka,
                &[
                    (&config.topic, config.partitions),
                    (&config.dead_letter_topic, 1),
                ],
            )
            .await
            .with_context(|| format!("cannot create topics on {}", config.kafka.brokers))?;
            tracing::info!(topic = %config.topic, partitions = config.partitions, "topics ready");
            migrate(&pool).await
        }
        "run" => {
            migrate(&pool).await?;
            let health = Arc::new(Health::default());
            let listener = tokio::net::TcpListener::bind(config.addr)
                .await
                .with_context(|| format!("cannot listen on {}", config.addr))?;
            tracing::info!(addr = %config.addr, "projector health endpoints listening");
            let router = projector::health::router(health.clone(), pool.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            consumer::run(&config, pool, health, runtime::shutdown::signal()).await
        }
        other => anyhow::bail!("unknown command {other:?}; expected run, migrate or setup"),
    }
}

async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("migrations failed")?;
    tracing::info!("migrations applied");
    Ok(())
}
