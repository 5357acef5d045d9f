//! Ingest's request decoder on any body, in every accepted format, gzip or not: it answers
//! with events or a clear error, never a panic; and every event it yields is validated and
//! enriched without one either.

#![no_main]

use std::io::Write;

use axum::http::{HeaderMap, HeaderValue, header};
use ingest::config::Limits;
use ingest::enrich::{RequestContext, enrich};
use libfuzzer_sys::fuzz_target;
use schemas::IncomingEvent;

const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "text/plain;charset=UTF-8",
    "application/x-ndjson",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "",
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    if !content_type.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    // Bit 3: compress the body; bit 4: declare it (a body may be gzip without the header).
    let body = if selector & 0x08 != 0 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body).expect("gzip into memory");
        gz.finish().expect("gzip into memory")
    } else {
        body.to_vec()
    };
    if selector & 0x10 != 0 {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        max_batch_events: 50,
        ..Limits::default()
    };
    let Ok(decoded) = ingest::decode::decode(&headers, &body, &limits) else {
        return;
    };
    let request = RequestContext {
        website_id: "fuzz".into(),
        received_at: chrono::Utc::now(),
        ip: Some([203, 0, 113, 7].into()),
        user_agent: Some("fuzzer".into()),
        from_browser: selector & 0x20 != 0,
        anonymize_ip: selector & 0x40 != 0,
        country: (selector & 0x10 != 0).then(|| "FR".into()),
        opted_out: selector & 0x80 != 0,
        visitor_salt: [7; 32],
        max_event_age: limits.max_event_age,
    };
    for item in decoded.items.into_iter().flatten() {
        if let Ok(event) = IncomingEvent::parse(item) {
            let event = enrich(event, decoded.sent_at, &request);
            let bytes = event.encode().expect("an enriched event encodes");
            assert_eq!(
                schemas::Event::decode(&bytes).expect("what ingest stores, the projector reads"),
                event
            );
        }
    }
});
