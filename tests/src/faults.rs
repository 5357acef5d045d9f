//! A stack whose every service is a process of its own, so a test can kill any of them: a
//! private broker, a private Postgres, and ingest and the projector as child processes.

use std::path::PathBuf;
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
    pub postgres_server: PrivatePostgres,
    postgres: PostgresConfig,
    ingest_port: u16,
    /// Settings for ingest beyond the stack's, applied at its next start.
    pub ingest_env: Vec<(String, String)>,
    ingest: Option<Child>,
    projector: Option<Child>,
}

impl FaultStack {
    pub async fn start(partitions: i32) -> Self {
        let postgres_server = PrivatePostgres::start().await;
        let postgres = PostgresConfig {
            url: postgres_server.url.clone(),
            pool_size: 4,
            connect_timeout_ms: 2_000,
        };
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
            postgres_server,
            postgres,
            ingest_port,
            ingest_env: Vec::new(),
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
            // Tests run side by side: no second port to collide on.
            .env("INGEST_METRICS_ADDR", "off")
            .env("KAFKA_BROKERS", &self.broker.brokers)
            .env("KAFKA_TOPIC", &self.topic)
            .env("KAFKA_DELIVERY_TIMEOUT_MS", DELIVERY_TIMEOUT_MS.to_string())
            .env("INGEST_WEBSITES", format!("{WEBSITE}={WRITE_KEY}"))
            .env("INGEST_RATE_LIMIT_EVENTS_PER_S", "1000000")
            .env("INGEST_RATE_LIMIT_BURST", "1000000")
            .env("INGEST_MAX_EVENT_AGE_S", u32::MAX.to_string())
            .env("INGEST_MAX_BATCH_EVENTS", "1000")
            .env("DATABASE_URL", &self.postgres.url)
            .env("RUST_LOG", "error")
            .envs(self.ingest_env.iter().map(|(k, v)| (k, v)))
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

    /// The running ingest's peak resident memory (`VmHWM`), in KiB.
    pub fn ingest_peak_rss_kib(&self) -> u64 {
        let pid = self
            .ingest
            .as_ref()
            .and_then(Child::id)
            .expect("ingest running");
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("ingest's /proc status")
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
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

    /// Waits until the stored offsets reach the high watermarks; how long that took, or `None`
    /// if not within `timeout`.
    pub async fn drain(&self, timeout: Duration) -> Option<Duration> {
        crate::caught_up(&self.pool, &self.broker.kafka(), &self.topic, timeout)
            .await
            .1
    }
}

/// The `postgres` user's uid and gid when the test runs as root (Postgres refuses to run as
/// root), else `None`: run as ourselves.
pub fn run_as_postgres() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = std::process::Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match id(&["-u"]) {
        Some(0) => Some((
            id(&["-u", "postgres"]).expect("a postgres user (deploy/dev test creates it)"),
            id(&["-g", "postgres"]).expect("the postgres group"),
        )),
        _ => None,
    }
}

/// A Postgres cluster of a test's own, so the test can SIGKILL it (crash recovery runs on the
/// restart). Run as the `postgres` user when the test runs as root, as `initdb` demands.
pub struct PrivatePostgres {
    pub url: String,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The user and group to run as, when the test runs as root.
    run_as: Option<(u32, u32)>,
    /// Server settings beyond the defaults, `-c name=value` each.
    settings: Vec<(String, String)>,
    child: Option<Child>,
}

impl PrivatePostgres {
    /// Serving TLS only: a certificate for `127.0.0.1` and `localhost` signed by a CA made for
    /// the test, whose certificate is returned (a PEM file) for clients to trust.
    pub async fn start_with_tls() -> (Self, PathBuf) {
        let mut server = Self::start().await;
        let certificates =
            crate::tls::Certificates::make(&server.dir.join("tls"), "127.0.0.1", server.run_as);
        server.settings = vec![
            ("ssl".to_owned(), "on".to_owned()),
            (
                "ssl_cert_file".to_owned(),
                certificates.cert.display().to_string(),
            ),
            (
                "ssl_key_file".to_owned(),
                certificates.key.display().to_string(),
            ),
        ];
        // Plain connections are refused from here on: only TLS reaches the server.
        let hba = server.dir.join("pgdata/pg_hba.conf");
        std::fs::write(&hba, "hostssl all all 127.0.0.1/32 trust\n").expect("write pg_hba.conf");
        server.kill().await;
        server.restart().await;
        (server, certificates.ca)
    }

    pub async fn start() -> Self {
        let bin = ["/usr/lib/postgresql/15/bin"]
            .into_iter()
            .map(PathBuf::from)
            .chain(
                std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path().join("bin")),
            )
            .find(|b| b.join("initdb").exists())
            .expect("Postgres binaries under /usr/lib/postgresql (deploy/dev test installs them)");
        let run_as = run_as_postgres();
        let dir = std::env::temp_dir().join(format!(
            "colloquy-postgres-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("postgres dir");
        let port = free_port();
        let mut server = Self {
            url: format!("postgres://colloquy@127.0.0.1:{port}/postgres"),
            port,
            dir,
            bin,
            run_as,
            settings: Vec::new(),
            child: None,
        };
        if run_as.is_some() {
            let owned = std::process::Command::new("chown")
                .args(["postgres", &server.dir.display().to_string()])
                .status()
                .expect("chown");
            assert!(owned.success(), "chown postgres {}", server.dir.display());
        }
        let initdb = server
            .command("initdb")
            .args([
                "-U",
                "colloquy",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(server.dir.join("pgdata"))
            .stdout(Stdio::null())
            .stderr(server.log())
            .status()
            .await
            .expect("run initdb");
        assert!(initdb.success(), "initdb failed");
        server.restart().await;
        server
    }

    /// The server's log, appended to across restarts.
    fn log(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("postgres.log"))
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command.current_dir("/");
        command
    }

    fn spawn(&self) -> Child {
        self.command("postgres")
            .arg("-D")
            .arg(self.dir.join("pgdata"))
            .args(["-p", &self.port.to_string()])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
            ])
            .args(["-c", "max_connections=100"])
            .args(
                self.settings
                    .iter()
                    .flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={v}")]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log())
            .kill_on_drop(true)
            .spawn()
            .expect("start postgres")
    }

    /// Starts the server on its port and data and waits until it accepts queries. Right after
    /// a kill the old backends may still hold the shared memory until they notice their
    /// postmaster is gone; the server then refuses to start, and is started again.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "postgres already running");
        self.child = Some(self.spawn());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let connected = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(1))
                .connect(&self.url)
                .await;
            if let Ok(pool) = connected
                && sqlx::query("SELECT 1").execute(&pool).await.is_ok()
            {
                pool.close().await;
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private postgres did not start:\n{}",
                std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
            );
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.child = Some(self.spawn());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL of the postmaster, as in a crash: transactions in flight are lost, and only
    /// what was committed (and so flushed to the WAL) survives. Its backends end on their own
    /// when they notice.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("kill postgres");
            child.wait().await.expect("reap postgres");
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
