//! `GET /v1/stream` against a real Postgres: what the projector announces as it commits
//! reaches every open stream, within each token's websites.

use std::time::Duration;

use schemas::Sender;
use serde_json::Value;

use crate::common::{TOKEN, TestApp, message, spawn_app, spawn_app_with, submitted};

/// One server-sent event: its name and its data.
#[derive(Debug)]
struct Sent {
    name: String,
    data: Value,
}

/// An open stream, read event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, token: &str) -> Stream {
        let response = app.fetch("/v1/stream", Some(token)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        let mut stream = Stream {
            response,
            buffer: String::new(),
        };
        assert_eq!(stream.next().await.name, "ready");
        stream
    }

    /// The next event, keep-alive comments passed over. A stream that stays silent for 30 s
    /// fails the test instead of hanging it.
    async fn next(&mut self) -> Sent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a comment
                }
                return Sent {
                    name,
                    data: serde_json::from_str(&data).unwrap(),
                };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("the stream sent nothing for 30 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn a_stream_passes_on_what_the_projector_commits_within_its_tokens_websites() {
    let app = spawn_app().await;
    let scoped = app.token_for(&["a"]).await;
    let mut everything = Stream::open(&app, TOKEN).await;
    let mut only_a = Stream::open(&app, &scoped).await;

    let first = vec![
        message("b", "cb", 1, Sender::User, "hello from b"),
        submitted("a", "ca", 2, "olivia@lumoco.dev", "req-1"),
    ];
    app.announced(first.clone()).await;

    let sent = everything.next().await;
    assert_eq!(sent.name, "message.sent");
    assert_eq!(sent.data["website_id"], "b");
    assert_eq!(sent.data["conversation_id"], "cb");
    assert_eq!(sent.data["event_id"], first[0].event_id.to_string());
    let sent = everything.next().await;
    assert_eq!(sent.name, "contact.submitted");
    assert_eq!(sent.data["request_id"], "req-1");
    // Ids only: what the person wrote stays behind the API.
    assert!(!sent.data.to_string().contains("olivia"), "{}", sent.data);

    let sent = only_a.next().await;
    assert_eq!(sent.name, "contact.submitted");
    assert_eq!(sent.data["website_id"], "a");

    // The same batch delivered again changes nothing, so it announces nothing: the next
    // event either stream sees is the one after it.
    app.announced(first).await;
    app.announced(vec![message("a", "ca", 3, Sender::Bot, "we will call")])
        .await;
    for stream in [&mut everything, &mut only_a] {
        let sent = stream.next().await;
        assert_eq!(sent.name, "message.sent");
        assert_eq!(sent.data["conversation_id"], "ca");
    }
}

#[tokio::test]
async fn a_stream_needs_a_token() {
    let app = spawn_app().await;
    let response = app.fetch("/v1/stream", None).await;
    assert_eq!(response.status(), 401);
}

/// Streams are bounded per token and in total: one token cannot hold hundreds open, nor the
/// tokens together more than the server allows; a refusal says when to retry.
#[tokio::test]
async fn streams_are_limited_per_token_and_in_total() {
    let app = spawn_app_with(|c| {
        c.limits.streams_per_token = 2;
        c.limits.streams_max = 3;
    })
    .await;
    app.given(vec![message("a", "c1", 0, Sender::User, "hi")])
        .await;
    let (b, c) = (app.token_for(&["a"]).await, app.token_for(&["a"]).await);
    let _open = [
        Stream::open(&app, TOKEN).await,
        Stream::open(&app, TOKEN).await,
    ];
    let own = app.fetch("/v1/stream", Some(TOKEN)).await;
    assert_eq!(own.status(), 429, "the token's own limit");
    assert!(own.headers().contains_key("retry-after"));
    let _third = Stream::open(&app, &b).await;
    let total = app.fetch("/v1/stream", Some(&c)).await;
    assert_eq!(total.status(), 503, "the server's limit");
    assert!(total.headers().contains_key("retry-after"));
}
