//! The trackers websites already run, unchanged but for the host and write key: Segment's
//! Python library (`tests/sdk/segment_python.py`) and its browser library, analytics.js
//! (`@segment/analytics-next`, loaded from a local page in headless Chromium by
//! `tests/sdk/segment_browser.py`, its settings inline so it fetches nothing from elsewhere,
//! posting across origins). Their calls become conversations, messages, CTA clicks and
//! contacts; a library's retry of a batch changes nothing.
//!
//! `deploy/dev test` installs both libraries (docs/segment.md) and names them in
//! `COLLOQUY_PYTHON` and `COLLOQUY_ANALYTICS_NEXT`; Chromium and Playwright as for the
//! dashboard's browser test.

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use e2e::{Stack, WEBSITE, WRITE_KEY};
use serde_json::{Value, json};
use tokio::process::Command;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);

/// What passed through the proxy: each request's body (gunzipped) and ingest's answer.
#[derive(Clone, Default)]
struct Relayed(Arc<Mutex<Vec<(Value, u16, Value)>>>);

#[derive(Clone)]
struct Proxy {
    ingest: String,
    http: reqwest::Client,
    relayed: Relayed,
}

/// Forwards a library's request to ingest as it is; the first one's answer is replaced by a
/// 503, after ingest stored it, so the library sends the same batch again, as it would after
/// losing an answer.
async fn relay(
    State(proxy): State<Proxy>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = proxy
        .http
        .post(format!("{}{}", proxy.ingest, uri.path()))
        .body(body.to_vec());
    for name in [
        "authorization",
        "content-type",
        "content-encoding",
        "user-agent",
    ] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let mut text = String::new();
    if headers.get("content-encoding").is_some() {
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(body.to_vec()).unwrap();
    }
    let mut relayed = proxy.relayed.0.lock().unwrap();
    relayed.push((serde_json::from_str(&text).unwrap(), status, answer.clone()));
    if relayed.len() == 1 {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Waits until query-api shows `conversation` with `done` holding of its detail.
async fn conversation(stack: &Stack, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (status, detail) = stack.query(&format!("/v1/conversations/{id}")).await;
        if status == 200 && done(&detail) {
            return detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never read as expected: {status} {detail:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many events of `conversation` the projector applied.
async fn applied(stack: &Stack, conversation: &str) -> i64 {
    let schema = stack.live_schema().await;
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) FROM \"{schema}\".event_log WHERE conversation_id = $1"
    ))
    .bind(conversation)
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_python_library_delivers_and_its_retry_counts_once() {
    let python = e2e::installed("COLLOQUY_PYTHON");
    let stack = Stack::start(2).await;
    let relayed = Relayed::default();
    let proxy = Proxy {
        ingest: stack.ingest_url.clone(),
        http: reqwest::Client::new(),
        relayed: relayed.clone(),
    };
    let host = serve(
        Router::new()
            .route("/v1/batch", post(relay))
            .with_state(proxy),
    )
    .await;
    let conversation_id = format!("sdk-py-{}", Uuid::new_v4());
    let output = Command::new(python)
        .arg(root().join("tests/sdk/segment_python.py"))
        .env("COLLOQUY_SEGMENT_HOST", &host)
        .env("COLLOQUY_WRITE_KEY", WRITE_KEY)
        .env("COLLOQUY_CONVERSATION", &conversation_id)
        .output()
        .await
        .expect("run the Python library");
    assert!(
        output.status.success(),
        "the Python library failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The library sent its batch, was answered 503, and sent the same batch again.
    let relayed = relayed.0.lock().unwrap().clone();
    eprintln!(
        "the library sent {} requests; ingest answered {:?}",
        relayed.len(),
        relayed
            .iter()
            .map(|(_, s, a)| (s, &a["accepted"], &a["not_used"]))
            .collect::<Vec<_>>()
    );
    assert!(relayed.len() >= 2, "{relayed:#?}");
    let ids = |body: &Value| -> Vec<String> {
        body["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["messageId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&relayed[0].0), ids(&relayed[1].0), "not a retry");
    let (_, status, first) = &relayed[0];
    let (_, _, second) = &relayed[1];
    assert_eq!(*status, 200, "{first}");
    assert_eq!(first["event_ids"], second["event_ids"], "{first} {second}");
    // page → widget.loaded, Conversation Started, two messages, a CTA click, a contact form and
    // the identify call; `Order Completed` and the group call are named as not used.
    assert_eq!(first["accepted"], 7, "{first:#}");
    assert_eq!(first["not_used"].as_array().unwrap().len(), 2, "{first:#}");
    assert_eq!(first["rejected"], json!([]), "{first:#}");

    let detail = conversation(&stack, &conversation_id, |d| {
        d["messages"].as_array().is_some_and(|m| m.len() == 2)
            && d["conversation"]["cta_clicks"] == 1
    })
    .await;
    let conversation = &detail["conversation"];
    assert_eq!(conversation["customer_id"], "sdk-user-1", "{detail:#}");
    assert!(!conversation["widget_loaded_at"].is_null(), "{detail:#}");
    assert_eq!(detail["messages"][0]["text"], "Do you ship to Norway?");
    assert_eq!(detail["messages"][1]["response_time_ms"], 900);
    let (status, contacts) = stack
        .query(&format!("/v1/contacts?website_id={WEBSITE}"))
        .await;
    assert_eq!(status, 200, "{contacts}");
    let grace: Vec<&Value> = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["email"] == "grace@example.com")
        .collect();
    assert_eq!(grace.len(), 1, "{contacts:#}");
    assert_eq!(grace[0]["name"], "Grace Hopper");
    // The identify call added her phone; she asked for contact once.
    assert_eq!(grace[0]["phone"], "+1 202 555 0100", "{contacts:#}");
    assert_eq!(grace[0]["request_count"], 1);
    // Each of the seven events once, though ingest took the batch twice.
    assert_eq!(applied(&stack, &conversation_id).await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_browser_library_delivers_across_origins_fetching_nothing_elsewhere() {
    let python = e2e::installed("COLLOQUY_PYTHON");
    let chromium = e2e::installed("COLLOQUY_CHROMIUM");
    let library = std::fs::read_to_string(e2e::installed("COLLOQUY_ANALYTICS_NEXT")).unwrap();
    let stack = Stack::start(2).await;
    let conversation_id = format!("sdk-js-{}", Uuid::new_v4());
    let ingest_host = stack.ingest_url.trim_start_matches("http://").to_owned();
    let page = std::fs::read_to_string(root().join("tests/sdk/segment_page.html"))
        .unwrap()
        .replace("{{WRITE_KEY}}", WRITE_KEY)
        .replace("{{API_HOST}}", &format!("{ingest_host}/v1"))
        .replace("{{CONVERSATION}}", &conversation_id);
    let site = serve(
        Router::new()
            .route("/", get(move || async move { Html(page) }))
            .route(
                "/analytics.js",
                get(move || async move {
                    ([("content-type", "text/javascript")], library).into_response()
                }),
            ),
    )
    .await;
    let artifacts = root().join(".data/test-artifacts/segment");
    std::fs::create_dir_all(&artifacts).unwrap();
    let output = Command::new(python)
        .arg(root().join("tests/sdk/segment_browser.py"))
        .env("COLLOQUY_PAGE_URL", &site)
        .env("COLLOQUY_INGEST_URL", &stack.ingest_url)
        .env("COLLOQUY_CHROMIUM", chromium)
        .env("COLLOQUY_ARTIFACTS", &artifacts)
        .output()
        .await
        .expect("run the browser library");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser library failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every request the page made went to the page's own server or to ingest.
    let requests: Vec<String> = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    eprintln!("the page's requests: {requests:#?}");
    assert!(
        requests
            .iter()
            .all(|u| u.starts_with(&site) || u.starts_with(&stack.ingest_url)),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|u| u.starts_with(&format!("{}/v1/", stack.ingest_url))),
        "{requests:#?}"
    );

    let detail = conversation(&stack, &conversation_id, |d| {
        d["messages"].as_array().is_some_and(|m| m.len() == 1)
            && d["conversation"]["cta_clicks"] == 1
            && !d["conversation"]["widget_loaded_at"].is_null()
    })
    .await;
    assert_eq!(detail["messages"][0]["text"], "Hello from the browser");
    // The browser's own user agent, and its page.
    assert_eq!(detail["conversation"]["channel"], "frame", "{detail:#}");
    assert_eq!(applied(&stack, &conversation_id).await, 3);
}
