//! HTTP in, Kafka, projector, Postgres, HTTP out.

use std::time::Duration;

use e2e::{Stack, WRITE_KEY};
use serde_json::{Value, json};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);

fn three_events(conversation: &str, ids: &[Uuid; 3]) -> Value {
    json!({"batch": [
        {"event_id": ids[0], "type": "widget.loaded", "conversation_id": conversation,
         "occurred_at": "2026-11-20T10:00:00Z", "payload": {"page_url": "https://shop.example/pricing"}},
        {"event_id": ids[1], "type": "message.sent", "conversation_id": conversation,
         "occurred_at": "2026-11-20T10:00:05Z", "payload": {"sender": "user", "text": "Do you ship to Norway?"}},
        {"event_id": ids[2], "type": "message.sent", "conversation_id": conversation,
         "occurred_at": "2026-11-20T10:00:06Z",
         "payload": {"sender": "bot", "text": "Yes, in 3-5 days.", "response_time_ms": 850, "confidence_score": 0.92}},
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_posted_to_ingest_are_served_by_query_api() {
    let stack = Stack::start(12).await;
    let ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];

    let response = stack.post_events(&three_events("conv-1", &ids)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["rejected"], json!([]));
    stack.wait_for_events(&ids, TIMEOUT).await;

    let (status, list) = stack
        .query(&format!("/v1/conversations?website_id={}", e2e::WEBSITE))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    let conversation = &list["conversations"][0];
    assert_eq!(conversation["conversation_id"], "conv-1");
    assert_eq!(conversation["status"], "active");
    assert_eq!(conversation["message_count"], 2);
    assert_eq!(conversation["widget_loaded_at"], "2026-11-20T10:00:00Z");
    assert_eq!(conversation["engaged_at"], "2026-11-20T10:00:05Z");

    let (status, detail) = stack.query("/v1/conversations/conv-1").await;
    assert_eq!(status, 200);
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0]["sender"].as_str(), messages[0]["id"].as_str()),
        (Some("user"), Some(&*ids[1].to_string()))
    );
    assert_eq!(messages[1]["text"], "Yes, in 3-5 days.");
    assert_eq!(messages[1]["response_time_ms"], 850);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_posting_the_same_events_changes_no_count() {
    let stack = Stack::start(12).await;
    let ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let batch = three_events("conv-dup", &ids);
    assert_eq!(stack.post_events(&batch).await.status(), 200);
    stack.wait_for_events(&ids, TIMEOUT).await;

    // The retry is accepted again (ingest does not dedupe; the projector does) ...
    let again = stack.post_events(&batch).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["accepted"], 3);
    // ... and a marker in the same conversation (same partition, so after the retry) shows
    // when the projector has got past it.
    let marker = Uuid::new_v4();
    let marker_event =
        json!({"event_id": marker, "type": "conversation.started", "conversation_id": "conv-dup"});
    assert_eq!(stack.post_events(&marker_event).await.status(), 200);
    stack.wait_for_events(&[marker], TIMEOUT).await;

    let (_, detail) = stack.query("/v1/conversations/conv-dup").await;
    assert_eq!(detail["conversation"]["message_count"], 2);
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM event_log")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(events, 4);
    // The topic really holds the duplicates: 3 + 3 + 1 records.
    let records: i64 = stack.high_watermarks().iter().map(|(_, h)| h).sum();
    assert_eq!(records, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_dead_lettered_and_the_partition_keeps_moving() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let stack = Stack::start(1).await;
    let producer: FutureProducer = runtime::testing::kafka().client_config().create().unwrap();
    producer
        .send(
            FutureRecord::to(&stack.topic)
                .key("conv-p")
                .payload("{not an event"),
            Duration::from_secs(10),
        )
        .await
        .expect("produce the poison record");
    let good = Uuid::new_v4();
    let event = json!({"event_id": good, "type": "widget.loaded", "conversation_id": "conv-p"});
    assert_eq!(stack.post_events(&event).await.status(), 200);
    stack.wait_for_events(&[good], TIMEOUT).await;

    let dlq = format!("{}-dlq", stack.topic);
    let consumer: rdkafka::consumer::BaseConsumer =
        runtime::testing::kafka().client_config().create().unwrap();
    let (_, high) =
        rdkafka::consumer::Consumer::fetch_watermarks(&consumer, &dlq, 0, Duration::from_secs(10))
            .unwrap();
    assert_eq!(high, 1, "the poison record is in the dead-letter topic");
    stack
        .wait_for_metrics(TIMEOUT, |m| {
            m.lines()
                .any(|l| l == "projector_events_dead_lettered_total 1")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_refuses_unknown_write_keys_and_query_api_refuses_missing_tokens() {
    let stack = Stack::start(1).await;
    let response = stack
        .http
        .post(format!("{}/v1/events", stack.ingest_url))
        .header("X-Write-Key", format!("{WRITE_KEY}-wrong"))
        .json(&json!({"type": "widget.loaded", "conversation_id": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = stack
        .http
        .get(format!("{}/v1/conversations", stack.query_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projector_reports_applied_events_and_zero_lag_once_caught_up() {
    let stack = Stack::start(3).await;
    let ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    assert_eq!(
        stack
            .post_events(&three_events("conv-m", &ids))
            .await
            .status(),
        200
    );
    stack.wait_for_events(&ids, TIMEOUT).await;

    // Counters move with the commit; the lag gauges follow the watermark monitor.
    stack
        .wait_for_metrics(TIMEOUT, |text| {
            let applied = text
                .lines()
                .any(|l| l == "projector_events_applied_total 3");
            let lags: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("projector_lag{"))
                .collect();
            let at_end = text
                .lines()
                .any(|l| l.starts_with("projector_high_watermark{") && l.ends_with(" 3"));
            applied && at_end && !lags.is_empty() && lags.iter().all(|l| l.ends_with(" 0"))
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboards_stream_hears_of_events_as_the_projector_applies_them() {
    let stack = Stack::start(12).await;
    let mut stream = stack
        .http
        .get(format!("{}/v1/stream", stack.query_url))
        .bearer_auth(e2e::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut heard = String::new();
    let mut listen_until = async |heard: &mut String, done: &dyn Fn(&str) -> bool| {
        while !done(heard) {
            let chunk = tokio::time::timeout(TIMEOUT, stream.chunk())
                .await
                .expect("the stream went quiet")
                .unwrap()
                .expect("the stream ended");
            heard.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    listen_until(&mut heard, &|h| h.contains("event: ready")).await;

    let ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let response = stack.post_events(&three_events("conv-live", &ids)).await;
    assert_eq!(response.status(), 200);
    listen_until(&mut heard, &|h| {
        ids.iter().all(|id| h.contains(&format!("id: {id}")))
    })
    .await;
    assert!(heard.contains("event: widget.loaded"), "{heard}");
    assert!(heard.contains("event: message.sent"), "{heard}");
    assert!(
        heard.contains(r#""conversation_id":"conv-live""#),
        "{heard}"
    );
    assert!(
        !heard.contains("Norway"),
        "a message's text is not on the stream: {heard}"
    );
}
