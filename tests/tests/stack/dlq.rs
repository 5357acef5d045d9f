//! `projector dlq list` shows parked records with their reasons; `projector dlq replay` applies
//! the ones that decode now, exactly once however often it runs, and leaves the rest parked.

use std::time::Duration;

use e2e::{Stack, WEBSITE};
use runtime::kafka::Record;
use schemas::Payload;
use schemas::payloads::WidgetLoaded;
use schemas::topics::dead_letter_headers as dlq;

fn parked(value: Vec<u8>, reason: &str, offset: i64) -> Record {
    let mut record = Record::new("parked", value);
    record.headers = vec![
        (dlq::REASON, reason.to_owned()),
        (dlq::SOURCE_TOPIC, "chat-events".to_owned()),
        (dlq::SOURCE_PARTITION, "0".to_owned()),
        (dlq::SOURCE_OFFSET, offset.to_string()),
    ];
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_records_are_listed_and_the_fixed_ones_replayed_once() {
    let stack = Stack::start(1).await;
    let dlq_topic = format!("{}-dlq", stack.topic);
    // Parked by an older release that could not read it; this one can.
    let fixed = schemas::testing::event(
        WEBSITE,
        "parked-1",
        chrono::Utc::now(),
        Payload::WidgetLoaded(WidgetLoaded::default()),
    );
    stack
        .produce_records_to(
            &dlq_topic,
            vec![
                parked(fixed.encode().unwrap(), "type: unknown event type", 41),
                parked(b"{still broken".to_vec(), "not JSON", 42),
            ],
        )
        .await;

    let list = stack.projector_command(&["dlq", "list"]).await;
    assert!(list.status.success());
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("from 0/41  type: unknown event type"),
        "{listed}"
    );
    assert!(listed.contains("not JSON  {still broken"), "{listed}");

    for round in ["applied now", "applied before"] {
        let replay = stack.projector_command(&["dlq", "replay"]).await;
        let report = String::from_utf8_lossy(&replay.stderr).into_owned();
        assert!(replay.status.success(), "{report}");
        let expected = if round == "applied now" {
            "2 parked records: 1 applied now, 0 applied before, 1 still parked"
        } else {
            "2 parked records: 0 applied now, 1 applied before, 1 still parked"
        };
        assert!(report.contains(expected), "{report}");
    }
    stack
        .wait_for_events(&[fixed.event_id], Duration::from_secs(10))
        .await;
    let (status, body) = stack.query("/v1/conversations/parked-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversation"]["status"], "loaded");
}
