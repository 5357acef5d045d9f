//! Request bodies into events: content types, compression and batch shapes.
//!
//! Accepted: `application/json` (one event, an array, or `{"batch": [...], "sent_at": ...}`),
//! `text/plain` holding the same JSON (what `navigator.sendBeacon` sends), and NDJSON
//! (`application/x-ndjson`, one event per line). Bodies may be gzip-compressed, declared by
//! `Content-Encoding: gzip` or recognised by the gzip magic bytes when the header is missing.

use std::io::Read;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::Limits;
use crate::error::ApiError;

/// The events of one request, each still untyped JSON or the reason it could not be read.
#[derive(Debug)]
pub struct DecodedBody {
    pub items: Vec<Result<Value, String>>,
    /// The client's clock when it sent the batch, for skew correction.
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Ndjson,
    /// `application/x-www-form-urlencoded`: what `curl -d` and many HTTP clients send by
    /// default, with JSON in the body anyway, or a real form whose `data` field holds it.
    Form,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

pub fn decode(headers: &HeaderMap, body: &[u8], limits: &Limits) -> Result<DecodedBody, ApiError> {
    let format = format(headers)?;
    let body = decompress(headers, body, limits.max_body_bytes)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedRequest("request body is empty".into()));
    }
    let text = std::str::from_utf8(&body).map_err(|e| {
        ApiError::MalformedRequest(format!(
            "request body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let decoded = match format {
        Format::Json => json_body(text)?,
        Format::Form if looks_like_json(text) => json_body(text)?,
        Format::Form => json_body(&form_data(text)?)?,
        Format::Ndjson => DecodedBody {
            items: ndjson_lines(text),
            sent_at: None,
        },
    };
    if decoded.items.is_empty() {
        return Err(ApiError::MalformedRequest("batch is empty".into()));
    }
    if decoded.items.len() > limits.max_batch_events {
        return Err(ApiError::PayloadTooLarge(format!(
            "batch has {} events; the limit is {}",
            decoded.items.len(),
            limits.max_batch_events
        )));
    }
    Ok(decoded)
}

fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Format::Json);
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "" | "application/json" | "text/plain" => Ok(Format::Json),
        "application/x-www-form-urlencoded" => Ok(Format::Form),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(Format::Ndjson),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "content type {other:?} is not supported; send application/json, application/x-ndjson or text/plain"
        ))),
    }
}

/// The body, gunzipped when it is gzip. The decompressed size is capped while decompressing,
/// so a small gzip bomb cannot expand into memory.
pub(crate) fn decompress(
    headers: &HeaderMap,
    body: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let gzip = match encoding.as_deref() {
        Some("gzip" | "x-gzip") => true,
        None | Some("" | "identity") => body.starts_with(&GZIP_MAGIC),
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content encoding {other:?} is not supported; send gzip or no encoding"
            )));
        }
    };
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_bytes));
    flate2::read::MultiGzDecoder::new(body)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::MalformedRequest(format!("request body is not valid gzip: {e}")))?;
    if out.len() > max_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "decompressed request body exceeds {max_bytes} bytes"
        )));
    }
    Ok(out)
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// The events in a form's `data` field: JSON, or base64-encoded JSON.
fn form_data(text: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text)
        .map_err(|e| ApiError::MalformedRequest(format!("form body cannot be read: {e}")))?;
    let data = pairs
        .into_iter()
        .find_map(|(k, v)| (k == "data").then_some(v))
        .ok_or_else(|| {
            ApiError::MalformedRequest(
                "form body needs a `data` field holding the events as JSON".into(),
            )
        })?;
    if looks_like_json(&data) {
        return Ok(data);
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    engines
        .iter()
        .find_map(|engine| engine.decode(data.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ApiError::MalformedRequest("data: expected JSON or base64-encoded JSON".into())
        })
}

fn json_body(text: &str) -> Result<DecodedBody, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::MalformedRequest(format!("request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(mut obj) if obj.contains_key("batch") => {
            let sent_at = match obj.remove("sent_at") {
                None | Some(Value::Null) => None,
                Some(v) => Some(parse_time("sent_at", &v)?),
            };
            match obj.remove("batch") {
                Some(Value::Array(items)) => Ok(DecodedBody {
                    items: items.into_iter().map(Ok).collect(),
                    sent_at,
                }),
                _ => Err(ApiError::MalformedRequest(
                    "batch: expected an array of events".into(),
                )),
            }
        }
        Value::Array(items) => Ok(DecodedBody {
            items: items.into_iter().map(Ok).collect(),
            sent_at: None,
        }),
        event @ Value::Object(_) => Ok(DecodedBody {
            items: vec![Ok(event)],
            sent_at: None,
        }),
        _ => Err(ApiError::MalformedRequest(
            "expected an event object, an array of events or {\"batch\": [...]}".into(),
        )),
    }
}

/// One event per non-blank line; a line that is not JSON is rejected on its own.
fn ndjson_lines(text: &str) -> Vec<Result<Value, String>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| format!("line {}: not valid JSON: {e}", n + 1))
        })
        .collect()
}

pub fn parse_time(field: &str, value: &Value) -> Result<DateTime<Utc>, ApiError> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::MalformedRequest(format!("{field}: expected an RFC 3339 time")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Write;

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 1024,
            max_batch_events: 3,
            ..Limits::default()
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn count(result: Result<DecodedBody, ApiError>) -> usize {
        result.unwrap().items.len()
    }

    #[test]
    fn a_single_object_is_one_event_and_arrays_and_batches_are_many() {
        let none = HeaderMap::new();
        assert_eq!(count(decode(&none, br#"{"type":"x"}"#, &limits())), 1);
        assert_eq!(count(decode(&none, br#"[{},{}]"#, &limits())), 2);
        assert_eq!(
            count(decode(&none, br#"{"batch":[{},{},{}]}"#, &limits())),
            3
        );
    }

    #[test]
    fn a_batch_carries_its_sent_at() {
        let body = br#"{"batch":[{}],"sent_at":"2026-11-20T10:00:00+01:00"}"#;
        let decoded = decode(&HeaderMap::new(), body, &limits()).unwrap();
        assert_eq!(
            decoded.sent_at.unwrap().to_rfc3339(),
            "2026-11-20T09:00:00+00:00"
        );
    }

    #[test]
    fn a_text_plain_beacon_is_read_as_json() {
        let h = headers(&[(header::CONTENT_TYPE, "text/plain;charset=UTF-8")]);
        assert_eq!(count(decode(&h, br#"{"batch":[{},{}]}"#, &limits())), 2);
    }

    #[test]
    fn ndjson_lines_are_events_and_a_bad_line_is_rejected_alone() {
        let h = headers(&[(header::CONTENT_TYPE, "application/x-ndjson")]);
        let decoded = decode(&h, b"{\"a\":1}\n\nnot json\n{\"b\":2}\n", &limits()).unwrap();
        assert_eq!(decoded.items.len(), 3);
        assert!(decoded.items[0].is_ok() && decoded.items[2].is_ok());
        assert!(
            decoded.items[1]
                .as_ref()
                .unwrap_err()
                .starts_with("line 3: not valid JSON")
        );
    }

    #[test]
    fn gzip_is_recognised_by_header_and_by_magic_bytes() {
        let body = gzip(br#"[{},{}]"#);
        let declared = headers(&[(header::CONTENT_ENCODING, "gzip")]);
        assert_eq!(count(decode(&declared, &body, &limits())), 2);
        assert_eq!(count(decode(&HeaderMap::new(), &body, &limits())), 2);
    }

    #[test]
    fn a_gzip_bomb_is_too_large_not_out_of_memory() {
        let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
        assert!(bomb.len() < 20 * 1024, "compressed {} bytes", bomb.len());
        assert!(matches!(
            decode(&HeaderMap::new(), &bomb, &limits()),
            Err(ApiError::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn corrupt_gzip_is_malformed() {
        let h = headers(&[(header::CONTENT_ENCODING, "gzip")]);
        assert!(matches!(
            decode(&h, b"\x1f\x8bnot really", &limits()),
            Err(ApiError::MalformedRequest(_))
        ));
    }

    #[test]
    fn unknown_content_types_and_encodings_are_unsupported() {
        let xml = headers(&[(header::CONTENT_TYPE, "application/xml")]);
        assert!(matches!(
            decode(&xml, b"<a/>", &limits()),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        let br = headers(&[(header::CONTENT_ENCODING, "br")]);
        assert!(matches!(
            decode(&br, b"{}", &limits()),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn invalid_utf8_empty_bodies_and_empty_batches_are_malformed() {
        let none = HeaderMap::new();
        for body in [
            &b"{\"a\":\"\xff\"}"[..],
            b"",
            b"  \n",
            br#"{"batch":[]}"#,
            br#""hi""#,
        ] {
            assert!(
                matches!(
                    decode(&none, body, &limits()),
                    Err(ApiError::MalformedRequest(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn deeply_nested_json_is_malformed_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let limits = Limits {
            max_body_bytes: 1 << 20,
            ..limits()
        };
        assert!(matches!(
            decode(&HeaderMap::new(), deep.as_bytes(), &limits),
            Err(ApiError::MalformedRequest(_))
        ));
    }

    #[test]
    fn a_batch_over_the_event_limit_is_too_large() {
        assert!(matches!(
            decode(&HeaderMap::new(), b"[{},{},{},{}]", &limits()),
            Err(ApiError::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn an_invalid_sent_at_is_malformed() {
        assert!(matches!(
            decode(
                &HeaderMap::new(),
                br#"{"batch":[{}],"sent_at":"noon"}"#,
                &limits()
            ),
            Err(ApiError::MalformedRequest(_))
        ));
    }

    #[test]
    fn json_sent_with_the_form_content_type_is_read_as_json() {
        let h = headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")]);
        assert_eq!(count(decode(&h, br#"{"batch":[{},{}]}"#, &limits())), 2);
    }

    #[test]
    fn a_form_data_field_holds_json_or_base64_json() {
        let h = headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")]);
        assert_eq!(
            count(decode(&h, b"data=%5B%7B%7D%2C%7B%7D%5D", &limits())),
            2
        );
        // base64 of [{},{},{}]
        assert_eq!(
            count(decode(&h, b"data=W3t9LHt9LHt9XQ%3D%3D", &limits())),
            3
        );
        assert!(matches!(
            decode(&h, b"other=1", &limits()),
            Err(ApiError::MalformedRequest(_))
        ));
    }
}
