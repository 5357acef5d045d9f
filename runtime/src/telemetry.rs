//! Logging. `RUST_LOG` filters (default `info`); `LOG_FORMAT` is `json` (the default: one JSON
//! object per line, with the span's fields) or `text` (for reading in a terminal).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, from `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("text") => builder.init(),
        _ => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
