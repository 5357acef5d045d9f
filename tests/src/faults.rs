//! A stack whose every service is a process of its own, so a test can kill any of them: a
//! private broker, ingest and the projector as child processes, on a fresh database of the
//! test Postgres (whose connections a test can cut).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use runtime::postgres::PostgresConfig;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::{PrivateBroker, WEBSITE, WRITE_KEY, bin_dir, free_port, signal, spawn_projector};

/// How long ingest waits for the broker before answering 503: short, so that freezing the
/// broker for longer than this is quick to test.
pub const DELIVERY_TIMEOUT_MS: u64 = 2_000;

pub struct FaultStack {
    pub ingest_url: String,
    pub pool: PgPool,
    pub topic: String,
    pub broker: PrivateBroker,
    postgres: PostgresConfig,
    ingest_port: u16,
    ingest: Option<Child>,
    projector: Option<Child>,
}

impl FaultStack {
    pub async fn start(partitions: i32) -> Self {
        let postgres = runtime::testing::fresh_database().await;
        let pool = runtime::testing::connect(&postgres).await;
        projector::store::MIGRATOR
            .run(&pool)
            .await
            .expect("migrate the test database");
        let broker = PrivateBroker::start().await;
        let topic = "chat-events".to_owned();
        runtime::kafka::ensure_topics(
            &broker.kafka(),
            &[(&topic, partitions), (&format!("{topic}-dlq"), 1)],
        )
        .await
        .expect("create the topics");
        let ingest_port = free_port();
        let mut stack = Self {
            ingest_url: format!("http://127.0.0.1:{ingest_port}"),
            pool,
            topic,
            broker,
            postgres,
            ingest_port,
            ingest: None,
            projector: None,
        };
        stack.start_ingest().await;
        stack.start_projector();
        stack
    }

    /// Starts the ingest binary on the stack's port and waits until it answers.
    pub async fn start_ingest(&mut self) {
        assert!(self.ingest.is_none(), "ingest already running");
        let child = Command::new(bin_dir().join("ingest"))
            .env("INGEST_ADDR", format!("127.0.0.1:{}", self.ingest_port))
            .env("KAFKA_BROKERS", &self.broker.brokers)
            .env("KAFKA_TOPIC", &self.topic)
            .env("KAFKA_DELIVERY_TIMEOUT_MS", DELIVERY_TIMEOUT_MS.to_string())
            .env("INGEST_WEBSITES", format!("{WEBSITE}={WRITE_KEY}"))
            .env("INGEST_RATE_LIMIT_EVENTS_PER_S", "1000000")
            .env("INGEST_RATE_LIMIT_BURST", "1000000")
            .env("INGEST_MAX_BATCH_EVENTS", "1000")
            .env("DATABASE_URL", &self.postgres.url)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start ingest");
        self.ingest = Some(child);
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let live = http
                .get(format!("{}/_liveness", self.ingest_url))
                .send()
                .await;
            if live.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ingest did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: requests in flight get no answer.
    pub async fn kill_ingest(&mut self) {
        if let Some(mut child) = self.ingest.take() {
            child.start_kill().expect("kill ingest");
            child.wait().await.expect("reap ingest");
        }
    }

    /// SIGTERM under load: ingest drains and exits; its exit status.
    pub async fn terminate_ingest(&mut self) -> ExitStatus {
        let mut child = self.ingest.take().expect("ingest running");
        signal(child.id().expect("ingest's pid"), "TERM");
        child.wait().await.expect("reap ingest")
    }

    pub fn start_projector(&mut self) {
        assert!(self.projector.is_none(), "projector already running");
        self.projector = Some(spawn_projector(
            &self.postgres.url,
            &self.broker.brokers,
            &self.topic,
            free_port(),
        ));
    }

    /// SIGKILL, mid-batch or not.
    pub async fn kill_projector(&mut self) {
        if let Some(mut child) = self.projector.take() {
            child.start_kill().expect("kill the projector");
            child.wait().await.expect("reap the projector");
        }
    }

    pub async fn terminate_projector(&mut self) -> ExitStatus {
        let mut child = self.projector.take().expect("projector running");
        signal(child.id().expect("the projector's pid"), "TERM");
        child.wait().await.expect("reap the projector")
    }

    /// Cuts every other connection to the stack's database, as a Postgres restart would:
    /// transactions in flight are rolled back. Returns how many were cut.
    pub async fn cut_postgres_connections(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
             FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&self.pool)
        .await
        .expect("terminate backends")
    }

    /// The broker's high watermark of every partition.
    pub fn high_watermarks(&self) -> Vec<(i32, i64)> {
        crate::high_watermarks(&self.broker.kafka(), &self.topic)
    }

    /// Waits until the stored offsets reach the high watermarks; how long that took, or `None`
    /// if not within `timeout`.
    pub async fn drain(&self, timeout: Duration) -> Option<Duration> {
        let started = tokio::time::Instant::now();
        let mut high = self.high_watermarks();
        high.retain(|(_, h)| *h > 0);
        high.sort();
        while started.elapsed() < timeout {
            let stored: Vec<(i32, i64)> = sqlx::query_as(
                "SELECT partition, next_offset FROM projector_offsets
                 WHERE topic = $1 AND next_offset > 0 ORDER BY partition",
            )
            .bind(&self.topic)
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
            if stored == high {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}
