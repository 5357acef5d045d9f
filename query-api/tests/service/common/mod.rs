//! `spawn_app` for the query API's service tests: a real, migrated Postgres, and in place of
//! the broker a sink that hands each admin event straight to the projector's `apply_batch`, so
//! actions can be read back as they would be once the real projector applied them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use projector::store::{Applied, Derive, apply_batch, apply_isolating};
use query_api::QueryApiConfig;
use reqwest::Method;
use runtime::kafka::{EventSink, Record, SinkError};
use schemas::testing::at;
use schemas::{Event, Payload, Sender};
use serde_json::Value;
use sqlx::PgPool;

pub const TOKEN: &str = "test-token";

/// What the stand-in broker does with admin events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// Acknowledges and the projector applies at once.
    Applies,
    /// Acknowledges, but the projector is behind.
    Lags,
    /// Refuses: the broker is down.
    Down,
}

#[derive(Clone)]
pub struct ProjectingSink {
    pool: PgPool,
    mode: Arc<Mutex<Broker>>,
    offset: Arc<Mutex<i64>>,
}

impl EventSink for ProjectingSink {
    fn send(&self, records: Vec<Record>) -> BoxFuture<'_, Vec<Result<(), SinkError>>> {
        Box::pin(async move {
            let mode = *self.mode.lock().unwrap();
            if mode == Broker::Down {
                return records
                    .iter()
                    .map(|_| Err(SinkError::Unavailable("broker down".into())))
                    .collect();
            }
            if mode == Broker::Applies {
                let events = projector::opening::open(
                    records.iter().map(|r| r.value.as_slice()),
                    &self.pool,
                )
                .await
                .unwrap();
                let applied: Vec<Applied> = events
                    .into_iter()
                    .map(|event| {
                        let mut offset = self.offset.lock().unwrap();
                        *offset += 1;
                        Applied {
                            partition: 0,
                            offset: *offset,
                            event: event.expect("admin events decode"),
                        }
                    })
                    .collect();
                let next = applied.last().map_or(0, |a| a.offset + 1);
                apply_batch(&self.pool, "t", &applied, &[(0, next)])
                    .await
                    .unwrap();
            }
            records.iter().map(|_| Ok(())).collect()
        })
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }
}

pub struct TestApp {
    pub url: String,
    pub pool: PgPool,
    pub http: reqwest::Client,
    broker: Arc<Mutex<Broker>>,
    /// The app's state, for calling its jobs directly (with an injected clock).
    pub state: query_api::AppState,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with its configuration changed by `configure` first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut QueryApiConfig)) -> TestApp {
    let (postgres, pool) = projector::testing::migrated_database().await;
    let mut config = QueryApiConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        // The service tests call the router; `/metrics` is read through `metrics::router`.
        metrics_addr: None,
        postgres,
        admin_token: TOKEN.into(),
        kafka: runtime::kafka::KafkaConfig::new("unused:9092"),
        producer: runtime::kafka::ProducerConfig::new("unused"),
        admin_wait: Duration::from_millis(300),
        retention_interval: None,
        email: None,
        report_interval: None,
        auth_failures_per_minute: 20,
        trusted_proxies: Default::default(),
        report_sends_per_day: 3,
        limits: query_api::config::Limits::default(),
        admin_event_keys: runtime::proof::AdminKeys::dev(),
        // A test that sends webhooks turns the dispatcher on.
        webhooks: query_api::webhooks::WebhookConfig {
            dispatch: false,
            ..Default::default()
        },
    };
    configure(&mut config);
    let broker = Arc::new(Mutex::new(Broker::Applies));
    let sink = Arc::new(ProjectingSink {
        pool: pool.clone(),
        mode: broker.clone(),
        offset: Arc::new(Mutex::new(0)),
    });
    let state = query_api::AppState::new(&config, pool.clone(), sink.clone()).unwrap();
    let app = query_api::build_with(&config, state.clone()).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        url,
        pool,
        http: reqwest::Client::new(),
        broker,
        state,
    }
}

impl TestApp {
    /// The URL of `GET /metrics` for this app, served on a listener of its own as
    /// `QUERY_API_METRICS_ADDR` serves it.
    pub async fn metrics_url(&self) -> String {
        let server = runtime::http::HttpServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            query_api::routes::metrics::metrics_router(self.state.clone()),
        )
        .await
        .unwrap();
        let url = format!("http://{}/metrics", server.local_addr());
        tokio::spawn(server.run_until_stopped(std::future::pending()));
        url
    }

    /// The routes as the bootstrap token.
    pub fn api(&self) -> Routes<'_> {
        Routes {
            app: self,
            token: TOKEN,
        }
    }

    /// The routes as `token`.
    pub fn api_as<'a>(&'a self, token: &'a str) -> Routes<'a> {
        Routes { app: self, token }
    }

    pub fn broker(&self, mode: Broker) {
        *self.broker.lock().unwrap() = mode;
    }

    /// A request answered as it comes, with `token` if any: for headers, or what is not JSON.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let response = self.send(method, path, Some(token), body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A GET answered as it comes, with `token` if any: for what is not JSON.
    pub async fn fetch(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// A GET of `path` as the bootstrap token, for matrices over routes ([`Routes`] otherwise).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, TOKEN, None).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    /// Applies client events as the projector would.
    pub async fn given(&self, events: Vec<Event>) {
        let next = events.len() as i64;
        let applied = read_from(1, events);
        // Stores a position, as the projector does: reads report it as `as_of`.
        apply_batch(&self.pool, "t", &applied, &[(1, next)])
            .await
            .unwrap();
    }

    /// Applies `events` as the live projector does: in one transaction that announces what
    /// was new on the live feed as it commits.
    pub async fn announced(&self, events: Vec<Event>) {
        let applied = read_from(2, events);
        let mut isolated = apply_isolating(
            self.pool.begin().await.unwrap(),
            "t",
            &applied,
            &[],
            Derive::Now,
        )
        .await
        .unwrap();
        isolated.announce().await.unwrap();
        isolated.commit().await.unwrap();
    }

    /// A token that sees only `websites`, made through the API.
    pub async fn token_for(&self, websites: &[&str]) -> String {
        let (status, body) = self
            .api()
            .create_token(serde_json::json!({ "websites": websites }))
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

/// `events` as one batch read from `partition`, at offsets from 0.
fn read_from(partition: i32, events: Vec<Event>) -> Vec<Applied> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Applied {
            partition,
            offset: i as i64,
            event,
        })
        .collect()
}

pub fn event(website: &str, conversation: &str, seconds: i64, payload: Payload) -> Event {
    schemas::testing::event(website, conversation, at(seconds), payload)
}

pub fn message(
    website: &str,
    conversation: &str,
    seconds: i64,
    sender: Sender,
    text: &str,
) -> Event {
    schemas::testing::message(website, conversation, at(seconds), sender, text)
}

pub fn submitted(
    website: &str,
    conversation: &str,
    seconds: i64,
    email: &str,
    request: &str,
) -> Event {
    use schemas::payloads::ContactSubmitted;
    let mut e = event(
        website,
        conversation,
        seconds,
        Payload::ContactSubmitted(ContactSubmitted {
            request_id: Some(request.into()),
            name: Some("Olivia Bennett".into()),
            email: Some(email.into()),
            phone: Some("+482-719-364".into()),
            message: Some("Call me".into()),
            chat_context: vec![],
        }),
    );
    e.context.ip = Some("203.0.113.9".parse().unwrap());
    e
}

/// Two websites' worth of traffic: on `a`, a conversation that only loaded, one with messages
/// (one needing a human) and a contact form, and one closed after a CTA click; on `b`, one
/// conversation with a contact form.
pub fn two_websites() -> Vec<Event> {
    use schemas::payloads::{
        CloseReason, ConversationClosed, CtaClicked, MessageSent, WidgetLoaded,
    };
    let mut needs_human = message("a", "c2", 20, Sender::Bot, "I am not sure");
    if let Payload::MessageSent(MessageSent {
        requires_human,
        message_id,
        ..
    }) = &mut needs_human.payload
    {
        *requires_human = true;
        *message_id = Some("m-help".into());
    }
    vec![
        event("a", "c1", 0, Payload::WidgetLoaded(WidgetLoaded::default())),
        event("a", "c2", 5, Payload::WidgetLoaded(WidgetLoaded::default())),
        message("a", "c2", 10, Sender::User, "How much is the Pro plan?"),
        needs_human,
        submitted("a", "c2", 30, "olivia@lumoco.dev", "req-a"),
        message("a", "c3", 40, Sender::User, "Book a demo"),
        event(
            "a",
            "c3",
            50,
            Payload::CtaClicked(CtaClicked {
                cta_id: None,
                customer_id: None,
                label: "Book".into(),
                value: None,
            }),
        ),
        event(
            "a",
            "c3",
            60,
            Payload::ConversationClosed(ConversationClosed {
                reason: CloseReason::User,
            }),
        ),
        message("b", "x1", 70, Sender::User, "Hello from b"),
        submitted("b", "x1", 80, "bob@b.example", "req-b"),
    ]
}

/// Settings for sending through `sink`, a mail catcher a test started.
pub fn mail_config(
    sink: &runtime::mailsink::MailSink,
    security: query_api::mail::Security,
) -> query_api::mail::MailConfig {
    query_api::mail::MailConfig {
        security,
        ..query_api::mail::MailConfig::catcher(sink.addr)
    }
}

/// The query API, one method per route it is tested through (a query string without its `?`
/// as `query`): `app.api()` calls as the bootstrap token, `app.api_as(token)` as another.
/// Matrices over every route send paths with [`TestApp::call`] instead.
#[derive(Clone, Copy)]
pub struct Routes<'a> {
    app: &'a TestApp,
    token: &'a str,
}

/// `path` with `query`, if any.
fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

impl Routes<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.call(method, path, self.token, body).await
    }

    /// `GET /v1/conversations`.
    pub async fn conversations(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/conversations".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/conversations/{id}`.
    pub async fn conversation(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query(format!("/v1/conversations/{id}"), query),
            None,
        )
        .await
    }

    /// `POST /v1/conversations/{id}/close`.
    pub async fn close_conversation(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query(format!("/v1/conversations/{id}/close"), query),
            None,
        )
        .await
    }

    /// `PUT /v1/conversations/{id}/priority`.
    pub async fn set_priority(&self, id: &str, query: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &with_query(format!("/v1/conversations/{id}/priority"), query),
            Some(body),
        )
        .await
    }

    /// `PUT /v1/websites/{id}/lead_keywords`.
    pub async fn set_lead_keywords(&self, id: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/v1/websites/{id}/lead_keywords"),
            Some(body),
        )
        .await
    }

    /// `POST /v1/messages/{id}/flag`.
    pub async fn flag_message(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query(format!("/v1/messages/{id}/flag"), query),
            None,
        )
        .await
    }

    /// `POST /v1/messages/{id}/human-replied`.
    pub async fn human_replied(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query(format!("/v1/messages/{id}/human-replied"), query),
            None,
        )
        .await
    }

    /// `GET /v1/contacts`.
    pub async fn contacts(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/contacts".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/contacts/{id}`.
    pub async fn contact(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query(format!("/v1/contacts/{id}"), query),
            None,
        )
        .await
    }

    /// `PATCH /v1/contacts/{id}`.
    pub async fn update_contact(&self, id: &str, query: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PATCH,
            &with_query(format!("/v1/contacts/{id}"), query),
            Some(body),
        )
        .await
    }

    /// `DELETE /v1/contacts/{id}`.
    pub async fn erase_contact(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::DELETE,
            &with_query(format!("/v1/contacts/{id}"), query),
            None,
        )
        .await
    }

    /// `POST /v1/contacts/merge`.
    pub async fn merge_contacts(&self, body: Value) -> (u16, Value) {
        self.call(Method::POST, "/v1/contacts/merge", Some(body))
            .await
    }

    /// `GET /v1/contact-requests`.
    pub async fn contact_requests(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/contact-requests".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/contact-requests/{id}`.
    pub async fn contact_request(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query(format!("/v1/contact-requests/{id}"), query),
            None,
        )
        .await
    }

    /// `PATCH /v1/contact-requests/{id}`.
    pub async fn move_request(&self, id: &str, query: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PATCH,
            &with_query(format!("/v1/contact-requests/{id}"), query),
            Some(body),
        )
        .await
    }

    /// `GET /v1/subjects/export`.
    pub async fn subject_export(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/subjects/export".to_owned(), query),
            None,
        )
        .await
    }

    /// `POST /v1/subjects/erase`.
    pub async fn erase_subject(&self, body: Value) -> (u16, Value) {
        self.call(Method::POST, "/v1/subjects/erase", Some(body))
            .await
    }

    /// `GET /v1/stats`.
    pub async fn stats(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/stats".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/stats/contacts`.
    pub async fn contact_insights(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/stats/contacts".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/stats/funnel`.
    pub async fn funnel(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/stats/funnel".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/stats/breakdown`.
    pub async fn breakdown(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/stats/breakdown".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /v1/websites`.
    pub async fn websites(&self) -> (u16, Value) {
        self.call(Method::GET, "/v1/websites", None).await
    }

    /// `POST /v1/websites`.
    pub async fn create_website(&self, body: Value) -> (u16, Value) {
        self.call(Method::POST, "/v1/websites", Some(body)).await
    }

    /// `GET /v1/websites/{id}/privacy`.
    pub async fn privacy(&self, id: &str) -> (u16, Value) {
        self.call(Method::GET, &format!("/v1/websites/{id}/privacy"), None)
            .await
    }

    /// `PUT /v1/websites/{id}/privacy`.
    pub async fn set_privacy(&self, id: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/v1/websites/{id}/privacy"),
            Some(body),
        )
        .await
    }

    /// `GET /v1/websites/{id}/reports`.
    pub async fn report_settings(&self, id: &str) -> (u16, Value) {
        self.call(Method::GET, &format!("/v1/websites/{id}/reports"), None)
            .await
    }

    /// `PUT /v1/websites/{id}/reports`.
    pub async fn set_report_settings(&self, id: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/v1/websites/{id}/reports"),
            Some(body),
        )
        .await
    }

    /// `GET /v1/websites/{id}/time_zone`.
    pub async fn time_zone(&self, id: &str) -> (u16, Value) {
        self.call(Method::GET, &format!("/v1/websites/{id}/time_zone"), None)
            .await
    }

    /// `PUT /v1/websites/{id}/time_zone`.
    pub async fn set_time_zone(&self, id: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/v1/websites/{id}/time_zone"),
            Some(body),
        )
        .await
    }

    /// `GET /v1/bot-quality`.
    pub async fn bot_quality(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/v1/bot-quality".into(), query),
            None,
        )
        .await
    }

    /// `GET /v1/websites/{id}/bot_settings`.
    pub async fn bot_settings(&self, id: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &format!("/v1/websites/{id}/bot_settings"),
            None,
        )
        .await
    }

    /// `PUT /v1/websites/{id}/bot_settings`.
    pub async fn set_bot_settings(&self, id: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/v1/websites/{id}/bot_settings"),
            Some(body),
        )
        .await
    }

    /// `GET /v1/tokens`.
    pub async fn tokens(&self) -> (u16, Value) {
        self.call(Method::GET, "/v1/tokens", None).await
    }

    /// `POST /v1/tokens`.
    pub async fn create_token(&self, body: Value) -> (u16, Value) {
        self.call(Method::POST, "/v1/tokens", Some(body)).await
    }

    /// `GET /v1/tokens/{id}`.
    pub async fn token(&self, id: &str) -> (u16, Value) {
        self.call(Method::GET, &format!("/v1/tokens/{id}"), None)
            .await
    }

    /// `DELETE /v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> (u16, Value) {
        self.call(Method::DELETE, &format!("/v1/tokens/{id}"), None)
            .await
    }

    /// `POST /reports/weekly`.
    pub async fn weekly_reports(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query("/reports/weekly".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /admin/conversations`.
    pub async fn admin_conversations(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/admin/conversations".to_owned(), query),
            None,
        )
        .await
    }

    /// `GET /admin/conversations/{id}`.
    pub async fn admin_conversation(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query(format!("/admin/conversations/{id}"), query),
            None,
        )
        .await
    }

    /// `GET /admin/conversations/{id}/messages`.
    pub async fn admin_messages(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query(format!("/admin/conversations/{id}/messages"), query),
            None,
        )
        .await
    }

    /// `POST /admin/conversations/{id}/close`.
    pub async fn admin_close(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query(format!("/admin/conversations/{id}/close"), query),
            None,
        )
        .await
    }

    /// `POST /admin/messages/{id}/mark-human`.
    pub async fn mark_human(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query(format!("/admin/messages/{id}/mark-human"), query),
            None,
        )
        .await
    }

    /// `POST /admin/messages/{id}/mark-replied`.
    pub async fn mark_replied(&self, id: &str, query: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            &with_query(format!("/admin/messages/{id}/mark-replied"), query),
            None,
        )
        .await
    }

    /// `GET /admin/stats`.
    pub async fn admin_stats(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/admin/stats".to_owned(), query),
            None,
        )
        .await
    }

    /// `PATCH /api/contact/request/{id}/status`.
    pub async fn legacy_move_request(&self, id: &str, query: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PATCH,
            &with_query(format!("/api/contact/request/{id}/status"), query),
            Some(body),
        )
        .await
    }

    /// `GET /api/v1/contacts`.
    pub async fn legacy_contacts(&self, query: &str) -> (u16, Value) {
        self.call(
            Method::GET,
            &with_query("/api/v1/contacts".to_owned(), query),
            None,
        )
        .await
    }
}
