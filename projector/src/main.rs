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
use runtime::http::HttpServer;

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
            projector::metrics::spawn_lag_monitor(
                health.metrics.clone(),
                &config.kafka,
                config.topic.clone(),
                std::time::Duration::from_secs(5),
            );
            let router = projector::health::router(health.clone(), pool.clone());
            let server = HttpServer::bind(config.addr, router)
                .await
                .with_context(|| format!("cannot listen on {}", config.addr))?;
            tracing::info!(addr = %server.local_addr(), "projector health endpoints listening");
            // Health answers until the process exits; only the consumer drains on shutdown.
            tokio::spawn(server.run_until_stopped(std::future::pending()));
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
