//! End-to-end harness: a complete Colloquy pipeline per test, on the real broker and Postgres
//! that `deploy/dev test` starts.
//!
//! Each [`Stack`] gets its own database and topics, so tests run in parallel without seeing
//! each other. Ingest and query-api run in the test process on random ports; the projector
//! runs as a real child process, so tests can SIGKILL it at any instant. [`faults::FaultStack`]
//! runs every service as a process, for the fault suite, and [`ledger`] is its proof.
//!
//! Over 500 lines: [`Stack`] and its helpers are the one API the end-to-end tests share.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use runtime::http::HttpServer;
use runtime::kafka::{KafkaConfig, KafkaSink, ProducerConfig};
use runtime::postgres::PostgresConfig;
use serde_json::Value;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

pub mod faults;
pub mod ledger;
pub mod tls;

pub const WRITE_KEY: &str = "e2e-write-key";
pub const WEBSITE: &str = "e2e-site";
pub const ADMIN_TOKEN: &str = "e2e-admin-token";

pub struct Stack {
    pub ingest_url: String,
    pub query_url: String,
    /// query-api's `/metrics` listener.
    pub query_metrics_url: String,
    pub pool: PgPool,
    pub topic: String,
    /// The running projector's health and metrics endpoints.
    pub projector_url: String,
    pub http: reqwest::Client,
    postgres: PostgresConfig,
    pub kafka: KafkaConfig,
    /// The mail catcher query-api sends reports to.
    pub mail: runtime::mailsink::MailSink,
    projector: Option<Child>,
    _stop_servers: Vec<oneshot::Sender<()>>,
}

impl Stack {
    /// A fresh database and topic, ingest and query-api serving, and the projector running.
    pub async fn start(partitions: i32) -> Self {
        Self::start_with_dispatcher(partitions, false).await
    }

    /// [`Stack::start`], with query-api's webhook dispatcher running in it or not: only the
    /// tests of webhooks want one (a test that kills dispatchers runs its own as processes,
    /// [`Stack::spawn_dispatcher`]).
    pub async fn start_with_dispatcher(partitions: i32, dispatcher: bool) -> Self {
        // As `projector migrate` leaves it before any service starts: ingest finds its tables.
        let (postgres, pool) = projector::testing::migrated_database().await;
        let kafka = runtime::testing::kafka();
        let topic = runtime::testing::fresh_topic("chat-events", partitions).await;
        runtime::kafka::ensure_topics(&kafka, &[(&format!("{topic}-dlq"), 1)])
            .await
            .expect("create the dead-letter topic");

        let mut stops = Vec::new();
        let ingest_config = ingest::IngestConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            kafka: kafka.clone(),
            producer: ProducerConfig::new(&topic),
            websites: vec![(WEBSITE.into(), WRITE_KEY.into())],
            websites_database: Some(postgres.clone()),
            // Longer than any test: new keys and privacy changes reach ingest as they do in
            // production, by a lookup and the projector's announcement, not by a poll.
            websites_refresh_ms: 3_600_000,
            country_db: Some(runtime::testing::country_db()),
            // Tests pose as visitors from anywhere with `X-Forwarded-For`.
            trusted_proxies: "127.0.0.1".parse().expect("a loopback proxy"),
            limits: ingest::config::Limits {
                // The tests send as fast as they can, and replay fixed days of 2026: the stack
                // neither limits a write key's rate nor doubts how far back an event is dated.
                rate_limit_events_per_s: 0.0,
                max_event_age: chrono::Duration::days(365 * 100),
                ..Default::default()
            },
            ..Default::default()
        };
        let sink =
            Arc::new(KafkaSink::new(&kafka, &ingest_config.producer).expect("create producer"));
        let ingest = ingest::build(&ingest_config, sink)
            .await
            .expect("bind ingest");
        let ingest_url = format!("http://{}", ingest.local_addr());
        stops.push(spawn(ingest));

        let mail = runtime::mailsink::MailSink::start("127.0.0.1:0", None)
            .await
            .expect("start the mail catcher");
        let query_metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let query_config = query_api::QueryApiConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: Some(query_metrics),
            postgres: postgres.clone(),
            admin_token: ADMIN_TOKEN.into(),
            kafka: kafka.clone(),
            producer: ProducerConfig::new(&topic),
            admin_wait: Duration::from_secs(10),
            retention_interval: None,
            email: Some(query_api::mail::MailConfig::catcher(mail.addr)),
            report_interval: None,
            auth_failures_per_minute: 20,
            trusted_proxies: Default::default(),
            report_sends_per_day: 3,
            limits: query_api::config::Limits::default(),
            admin_event_keys: runtime::proof::AdminKeys::dev(),
            webhooks: query_api::webhooks::WebhookConfig {
                dispatch: dispatcher,
                ..webhooks()
            },
        };
        let admin_sink =
            Arc::new(KafkaSink::new(&kafka, &query_config.producer).expect("create producer"));
        // Like the real binary, query-api follows the live version of the read models.
        let live = runtime::read_models::LiveSchema::new("public");
        live.spawn_watch(pool.clone(), Duration::from_millis(200));
        let query_pool =
            runtime::read_models::following_pool(&postgres, live).expect("query-api pool");
        let query = query_api::build(&query_config, query_pool, admin_sink)
            .await
            .expect("bind query-api");
        let query_url = format!("http://{}", query.local_addr());
        stops.push(spawn(query));

        let mut stack = Stack {
            ingest_url,
            query_url,
            query_metrics_url: format!("http://{query_metrics}"),
            pool,
            topic,
            projector_url: String::new(),
            http: reqwest::Client::new(),
            postgres,
            kafka,
            mail,
            projector: None,
            _stop_servers: stops,
        };
        stack.start_projector();
        stack
    }

    /// Starts the projector binary as a child process.
    pub fn start_projector(&mut self) {
        assert!(self.projector.is_none(), "projector already running");
        let port = free_port();
        self.projector_url = format!("http://127.0.0.1:{port}");
        let child = spawn_projector(&self.postgres.url, &self.kafka.brokers, &self.topic, port);
        self.projector = Some(child);
    }

    /// A webhook dispatcher of its own: the query-api binary, serving nothing the test uses,
    /// with the stack's dispatcher settings (loopback receivers, retries within a second).
    pub fn spawn_dispatcher(&self) -> Child {
        let binary = bin_dir().join("query-api");
        assert!(
            binary.exists(),
            "{} not found: build it first",
            binary.display()
        );
        let config = webhooks();
        let delays: Vec<String> = config
            .retry_delays
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect();
        Command::new(&binary)
            .env("DATABASE_URL", &self.postgres.url)
            .env("KAFKA_BROKERS", &self.kafka.brokers)
            .env("KAFKA_TOPIC", &self.topic)
            .env("QUERY_API_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("QUERY_API_METRICS_ADDR", "off")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RETENTION_INTERVAL_S", "0")
            .env("REPORT_INTERVAL_S", "0")
            .env("WEBHOOK_ALLOW_HTTP", "true")
            .env("WEBHOOK_ALLOW_PRIVATE", "true")
            .env("WEBHOOK_RETRY_DELAYS_MS", delays.join(","))
            .env("WEBHOOK_POLL_MS", config.poll.as_millis().to_string())
            .env("WEBHOOK_TIMEOUT_MS", config.timeout.as_millis().to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
    }

    /// Starts another projector process on this stack, beside the one [`Stack::start_projector`]
    /// manages: for tests that run several, which share the partitions through their leases.
    pub fn another_projector(&self) -> Child {
        self.another_projector_with(free_port(), &[])
    }

    /// [`Stack::another_projector`] serving health and metrics on `port`, with settings of the
    /// test's own.
    pub fn another_projector_with(&self, port: u16, settings: &[(&str, &str)]) -> Child {
        spawn_projector_with(
            &self.postgres.url,
            &self.kafka.brokers,
            &self.topic,
            port,
            settings,
        )
    }

    /// Runs the projector binary with `args` (e.g. `rebuild`) against this stack, to the end.
    pub async fn projector_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin_dir().join("projector"))
            .args(args)
            .env("DATABASE_URL", &self.postgres.url)
            .env("KAFKA_BROKERS", &self.kafka.brokers)
            .env("KAFKA_TOPIC", &self.topic)
            .env("KAFKA_DLQ_TOPIC", format!("{}-dlq", self.topic))
            .env("PROJECTOR_BATCH_SIZE", "500")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run the projector binary")
    }

    /// Every event in the topic as the projector reads it: sealed personal fields opened with
    /// their keys from the key store, and absent where the key was erased.
    pub async fn open_topic(&self) -> Vec<Value> {
        let records = read_records(&self.kafka, &self.topic);
        projector::opening::open(records.iter().map(|r| r.value.as_slice()), &self.pool)
            .await
            .expect("read the key store")
            .into_iter()
            .map(|e| serde_json::to_value(e.expect("a decodable event")).expect("JSON"))
            .collect()
    }

    /// The schema of the live read models (`public` until a rebuild switched).
    pub async fn live_schema(&self) -> String {
        runtime::read_models::live_schema(&self.pool)
            .await
            .expect("read the live version")
    }

    /// Sends the projector SIGTERM and waits for the process to exit; its exit status.
    pub async fn stop_projector(&mut self) -> std::process::ExitStatus {
        let mut child = self.projector.take().expect("projector running");
        signal(child.id().expect("the projector's pid"), "TERM");
        child.wait().await.expect("reap the projector")
    }

    /// SIGKILL: no shutdown hook runs, a transaction in flight is cut off.
    pub async fn kill_projector(&mut self) {
        if let Some(mut child) = self.projector.take() {
            child.start_kill().expect("send SIGKILL");
            child.wait().await.expect("reap the projector");
        }
    }

    /// POSTs `body` to ingest's `/v1/events` with the stack's write key.
    pub async fn post_events(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/events", self.ingest_url))
            .header("X-Write-Key", WRITE_KEY)
            .json(body)
            .send()
            .await
            .expect("ingest answers")
    }

    /// Produces events straight to the topic, as the query API does for admin actions: with
    /// the proof of origin the stack's keys make.
    pub async fn produce(&self, events: &[schemas::Event]) {
        let keys = runtime::proof::AdminKeys::dev();
        let records = events
            .iter()
            .map(|e| {
                let mut record = runtime::kafka::Record::new(
                    e.conversation_id.clone(),
                    e.encode().expect("encode"),
                );
                let proof = keys.sign(record.key.as_bytes(), &record.value);
                record.headers.push((schemas::topics::PROOF_HEADER, proof));
                record
            })
            .collect();
        self.produce_records(records).await;
    }

    /// Produces records as they are, poison included, and waits for the broker's
    /// acknowledgement.
    pub async fn produce_records(&self, records: Vec<runtime::kafka::Record>) {
        self.produce_records_to(&self.topic, records).await;
    }

    /// Produces records to another topic of the stack (e.g. its dead-letter topic).
    pub async fn produce_records_to(&self, topic: &str, records: Vec<runtime::kafka::Record>) {
        let sink = KafkaSink::new(&self.kafka, &ProducerConfig::new(topic)).expect("producer");
        if topic == self.topic {
            // As ingest and query-api do: an idle projector resumes at once.
            runtime::kafka::EventSink::announce_through(
                &sink,
                runtime::wakeup::Announcer::new(self.pool.clone()),
            );
        }
        for result in runtime::kafka::EventSink::send(&sink, records).await {
            result.expect("the broker acknowledged");
        }
    }

    /// GETs a query-api path with the admin token and returns status and JSON body.
    pub async fn query(&self, path_and_query: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.query_url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("query-api answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Calls a query-api route with `token` and an optional JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.query_url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("query-api answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the projector has applied every event with these ids.
    pub async fn wait_for_events(&self, ids: &[uuid::Uuid], timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let schema = self.live_schema().await;
            let (n,): (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM \"{schema}\".event_log WHERE event_id = ANY($1)"
            ))
            .bind(ids)
            .fetch_one(&self.pool)
            .await
            .expect("count events");
            if n == ids.len() as i64 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {n} of {} events projected after {timeout:?}",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the projector's `/metrics` until `done` holds for its text, and returns the text.
    /// Counters move just after the commit a test may have waited for, so one read can be early.
    pub async fn wait_for_metrics(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        self.wait_for_metrics_of(&self.projector_url, timeout, done)
            .await
    }

    /// [`Stack::wait_for_metrics`] of the service at `base` (e.g. [`Stack::query_metrics_url`]).
    pub async fn wait_for_metrics_of(
        &self,
        base: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let url = format!("{base}/metrics");
            let text = match self.http.get(url).send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if done(&text) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "metrics never reached the expected state:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the stored offset of every non-empty partition equals its high watermark:
    /// the projector has read everything the topic holds. Returns the stored offsets.
    pub async fn wait_until_caught_up(&self, timeout: Duration) -> Vec<(i32, i64)> {
        caught_up(&self.pool, &self.kafka, &self.topic, timeout)
            .await
            .0
    }

    /// The broker's high watermark of every partition: how many records each holds.
    pub fn high_watermarks(&self) -> Vec<(i32, i64)> {
        high_watermarks(&self.kafka, &self.topic)
    }
}

/// Waits up to `timeout` until the projector's stored offset of every non-empty partition of
/// `topic` equals its high watermark. Returns the stored offsets, and how long reaching them
/// took (`None` if they were not reached). A failed read (Postgres down mid-fault) is retried.
pub async fn caught_up(
    pool: &PgPool,
    kafka: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> (Vec<(i32, i64)>, Option<Duration>) {
    let started = tokio::time::Instant::now();
    let mut high = high_watermarks(kafka, topic);
    high.retain(|(_, h)| *h > 0);
    high.sort();
    loop {
        let stored: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, next_offset FROM projector_offsets
             WHERE topic = $1 AND next_offset > 0 ORDER BY partition",
        )
        .bind(topic)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        if stored == high {
            return (stored, Some(started.elapsed()));
        }
        if started.elapsed() >= timeout {
            return (stored, None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The high watermark of every partition of `topic`: how many records each holds.
pub fn high_watermarks(kafka: &KafkaConfig, topic: &str) -> Vec<(i32, i64)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = kafka.client_config().create().expect("create consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    partitions
        .into_iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            (p, high)
        })
        .collect()
}

/// Runs `server` in the background until the returned sender is dropped (with the stack).
/// The stack's webhook dispatcher: receivers run in the tests, on loopback and plain HTTP, and
/// retries come within a second rather than minutes (the order of the default schedule kept).
fn webhooks() -> query_api::webhooks::WebhookConfig {
    query_api::webhooks::WebhookConfig {
        policy: query_api::webhooks::guard::Policy {
            allow_http: true,
            allow_private: true,
        },
        timeout: Duration::from_secs(2),
        retry_delays: [100, 200, 300, 400, 500, 600, 700]
            .map(Duration::from_millis)
            .to_vec(),
        // Never in a test's time: deliveries and retries must wake the dispatcher themselves.
        poll: Duration::from_secs(3600),
        // Long enough that a receiver failing only first attempts is never disabled, short
        // enough for a test to see one that always fails disabled.
        disable_after: Duration::from_secs(5),
        ..Default::default()
    }
}

fn spawn(server: HttpServer) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    stop
}

/// Starts the projector binary (`run`) against a database and topic, serving health on `port`.
pub fn spawn_projector(database_url: &str, brokers: &str, topic: &str, port: u16) -> Child {
    spawn_projector_with(database_url, brokers, topic, port, &[])
}

/// [`spawn_projector`] with settings of the test's own.
pub fn spawn_projector_with(
    database_url: &str,
    brokers: &str,
    topic: &str,
    port: u16,
    settings: &[(&str, &str)],
) -> Child {
    let binary = bin_dir().join("projector");
    assert!(
        binary.exists(),
        "{} not found: build it first (`deploy/dev test` runs `cargo build --workspace --bins`)",
        binary.display()
    );
    Command::new(&binary)
        .arg("run")
        .env("DATABASE_URL", database_url)
        .env("KAFKA_BROKERS", brokers)
        .env("KAFKA_TOPIC", topic)
        .env("KAFKA_DLQ_TOPIC", format!("{topic}-dlq"))
        .env("PROJECTOR_ADDR", format!("127.0.0.1:{port}"))
        .env("PROJECTOR_BATCH_SIZE", "500")
        // A projector restarted after a SIGKILL waits for the leases of the process it
        // replaces to expire: 10 s by default, shorter here so kill tests move on.
        .env("PROJECTOR_LEASE_TTL_MS", "2000")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

/// A test's size from the environment (`COLLOQUY_CRASH_EVENTS`, …), else `default`: the short
/// forms run in CI, the long forms are these set higher (see docs/reliability.md).
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The file an outside tool is at, from the variable `deploy/dev test` names it in; a test
/// needing it fails loudly rather than skip when it is missing.
pub fn installed(variable: &str) -> String {
    let path = std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run the tests with deploy/dev test, which installs it")
    });
    assert!(
        std::path::Path::new(&path).is_file(),
        "{variable} names {path}, which does not exist"
    );
    path
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`, …) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// Where the workspace binaries are: `COLLOQUY_BIN_DIR`, else next to this test executable.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("COLLOQUY_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// A Tansu broker of a test's own, so the test can kill and restart it without disturbing
/// others. Its storage lives in a temporary folder that survives restarts.
pub struct PrivateBroker {
    pub brokers: String,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateBroker {
    pub async fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("colloquy-broker-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut broker = Self {
            brokers: format!("127.0.0.1:{port}"),
            port,
            dir,
            child: None,
        };
        broker.restart().await;
        broker
    }

    /// Starts the broker on the same port and storage, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(tansu_bin())
            .current_dir(&self.dir)
            .env("STORAGE_ENGINE", "sqlite://broker.db")
            .env("LISTENER_URL", &listener)
            .env("ADVERTISED_LISTENER_URL", &listener)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private broker did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the broker vanishes mid-request, as in a crash.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("kill tansu");
            child.wait().await.expect("reap tansu");
        }
    }

    /// SIGSTOP, then SIGCONT after `pause`: the broker hangs without closing connections.
    pub async fn freeze(&self, pause: Duration) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .expect("broker running");
        signal(pid, "STOP");
        tokio::time::sleep(pause).await;
        signal(pid, "CONT");
    }

    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig::new(&self.brokers)
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Tansu binary: on `PATH`, or where `cargo install` puts it.
fn tansu_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tansu"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin").join("tansu"));
    on_path
        .chain(cargo_home)
        .find(|p| p.is_file())
        .expect("tansu not found on PATH or in ~/.cargo/bin: `deploy/dev test` installs it")
}

/// Every record value in `topic`, as JSON, read from the beginning of each partition to its end.
pub fn read_topic(kafka: &KafkaConfig, topic: &str) -> Vec<Value> {
    read_records(kafka, topic)
        .iter()
        .map(|r| serde_json::from_slice(&r.value).expect("JSON record"))
        .collect()
}

/// A record as a plain consumer sees it.
#[derive(Debug, Clone)]
pub struct TopicRecord {
    pub value: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl TopicRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every record in `topic`, read from the beginning of each partition to its end.
pub fn read_records(kafka: &KafkaConfig, topic: &str) -> Vec<TopicRecord> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Headers;
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "e2e-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut remaining = 0;
    let mut list = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .expect("watermarks");
        remaining += high - low;
        list.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("add partition");
    }
    consumer.assign(&list).expect("assign");
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while remaining > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{remaining} records of {topic} not read"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("consume");
            let headers = message
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                            (h.key.to_owned(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            values.push(TopicRecord {
                value: message.payload().unwrap_or_default().to_vec(),
                headers,
            });
            remaining -= 1;
        }
    }
    values
}
