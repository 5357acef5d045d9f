//! The payload shapes of versions that are no longer current, frozen: what old clients send
//! and old records in the topic hold. They are documented (`schemas/json/payloads/`) and read
//! through the upcasters, never built.

use schemars::JsonSchema;
use serde::Deserialize;

/// `message.sent` version 1: `sender` is the bare role.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct MessageSentV1 {
    pub message_id: Option<String>,
    pub customer_id: Option<String>,
    /// `user`, `bot` or `agent`.
    pub sender: String,
    pub text: String,
    #[schemars(range(max = super::limits::RESPONSE_TIME_MS))]
    pub response_time_ms: Option<u64>,
    pub confidence_score: Option<f64>,
    #[serde(default)]
    pub requires_human: bool,
}
