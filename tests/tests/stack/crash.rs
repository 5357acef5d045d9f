//! Exactly-once under crashes: SIGKILL the projector again and again while events stream in,
//! then check the read models against a ledger of every event the test had acknowledged.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use e2e::Stack;
use serde_json::json;
use uuid::Uuid;

const CONVERSATIONS: usize = 200;
const BATCH_SIZE: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_projector_repeatedly_loses_and_duplicates_nothing() {
    // The short form runs in CI; `COLLOQUY_CRASH_EVENTS=100000 COLLOQUY_CRASH_KILLS=40` is the
    // long form (see docs/reliability.md).
    let batches = e2e::setting("COLLOQUY_CRASH_EVENTS", 6_000).div_ceil(BATCH_SIZE);
    let kills = e2e::setting("COLLOQUY_CRASH_KILLS", 8);
    let mut stack = Stack::start(12).await;
    let ingest_url = stack.ingest_url.clone();
    let http = stack.http.clone();
    let batches_sent = Arc::new(AtomicUsize::new(0));
    let progress = batches_sent.clone();

    // The sender: batches of messages across many conversations, every id recorded in the
    // ledger only once ingest acknowledged it. Every fifth batch is sent twice, as a client
    // retry would, so the topic holds duplicates too.
    let sender = tokio::spawn(async move {
        let mut ledger: HashMap<String, usize> = HashMap::new();
        let mut ids = Vec::new();
        for b in 0..batches {
            let events: Vec<_> = (0..BATCH_SIZE)
                .map(|i| {
                    let conversation = format!("conv-{}", (b * BATCH_SIZE + i) % CONVERSATIONS);
                    let id = Uuid::new_v4();
                    (conversation, id)
                })
                .collect();
            let body = json!({"batch": events.iter().map(|(c, id)| json!({
                "event_id": id, "type": "message.sent", "conversation_id": c,
                "payload": {"sender": if id.as_u128() % 2 == 0 { "user" } else { "bot" }, "text": "hello"}
            })).collect::<Vec<_>>()});
            let sends = if b % 5 == 0 { 2 } else { 1 };
            for _ in 0..sends {
                let response = http
                    .post(format!("{ingest_url}/v1/events"))
                    .header("X-Write-Key", e2e::WRITE_KEY)
                    .json(&body)
                    .send()
                    .await
                    .expect("ingest answers");
                assert_eq!(response.status(), 200, "batch {b} not acknowledged");
            }
            for (conversation, id) in events {
                *ledger.entry(conversation).or_default() += 1;
                ids.push(id);
            }
            progress.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (ledger, ids)
    });

    // The killer: SIGKILL spread over the stream by the sender's progress (so every kill lands
    // while events are still arriving, however fast the machine), at uneven moments within it,
    // and restart at once.
    for k in 1..=kills {
        while batches_sent.load(Ordering::SeqCst) < k * batches / (kills + 1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis((k as u64 * 37) % 60)).await;
        stack.kill_projector().await;
        stack.start_projector();
    }
    let (ledger, ids) = sender.await.expect("sender finished");
    stack.wait_for_events(&ids, Duration::from_secs(600)).await;

    let total = ids.len() as i64;
    let count = |sql: &'static str| {
        let pool = stack.pool.clone();
        async move {
            sqlx::query_as::<_, (i64,)>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
                .0
        }
    };
    assert_eq!(count("SELECT count(*) FROM event_log").await, total);
    assert_eq!(count("SELECT count(*) FROM messages").await, total);
    assert_eq!(
        count("SELECT sum(message_count)::bigint FROM conversations").await,
        total
    );

    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT conversation_id, message_count FROM conversations")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    let projected: HashMap<String, usize> =
        rows.into_iter().map(|(c, n)| (c, n as usize)).collect();
    assert_eq!(
        projected, ledger,
        "per-conversation message counts match the ledger"
    );

    // Every record in the topic (duplicates included) has been read, and the stored offsets
    // end exactly where the partitions end.
    let stored = stack.wait_until_caught_up(Duration::from_secs(60)).await;
    let mut high = stack.high_watermarks();
    high.retain(|(_, h)| *h > 0);
    high.sort();
    assert_eq!(stored, high, "stored offsets end where the partitions end");
    assert_eq!(
        count("SELECT count(*) FROM event_log").await,
        total,
        "duplicates at the tail changed nothing"
    );
}
