//! Event validation and the stored-record decoder on any bytes: a client event is accepted or
//! rejected with a field, never a panic; a record from the topic decodes or is poison, never a
//! panic (sealed ones too, opened without their key); a record in the clear that decodes
//! re-encodes to one that decodes to the same event; and sealing it then opening it with the
//! key gives back its personal fields.

#![no_main]

use libfuzzer_sys::fuzz_target;
use schemas::sealing::SubjectKey;
use schemas::{Event, IncomingEvent, StoredEvent};

fuzz_target!(|input: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(input) {
        let _ = IncomingEvent::parse(value);
    }
    let Ok(stored) = StoredEvent::parse(input) else {
        return;
    };
    let sealed = stored.key_id().is_some();
    let Ok(event) = stored.open(None) else {
        return;
    };
    if sealed {
        // Opened as erased: what a reader without the key store sees. Nothing more to hold.
        return;
    }
    let again = Event::decode(&event.encode().expect("a decoded event encodes"))
        .expect("a re-encoded event decodes");
    assert_eq!(again, event);

    let key = SubjectKey {
        id: event.event_id,
        secret: [7; 32],
    };
    let bytes = event.encode_sealed(&key).expect("an event seals");
    let opened = StoredEvent::parse(&bytes)
        .expect("a sealed event parses")
        .open(Some(&key.secret))
        .expect("a sealed event opens with its key");
    assert_eq!(opened.payload, event.payload);
    assert_eq!(
        (opened.context.ip, &opened.context.user_agent),
        (event.context.ip, &event.context.user_agent)
    );
});
