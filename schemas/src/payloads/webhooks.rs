//! Admin events about outgoing webhooks: the endpoints a website's admin registered, so that a
//! rebuild keeps them. Their signing secrets are not events (they never enter the topic): they
//! live beside the version metadata (docs/webhooks.md).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Validate;
use super::checks::{bounded, required};
use super::limits;
use crate::error::FieldError;

/// What an endpoint can subscribe to: the `type` of the messages Colloquy posts to it.
pub const WEBHOOK_KINDS: &[&str] = &[
    "contact.created",
    "contact.updated",
    "contact.erased",
    "contact_request.created",
    "contact_request.status_changed",
    "conversation.handed_off",
    "conversation.closed",
    "conversation.rated",
];

/// An admin registered, changed or deleted a webhook endpoint: the whole endpoint as it is
/// now. The latest change of an endpoint wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookEndpoint {
    /// A UUID the query API gives the endpoint when it is registered.
    pub endpoint_id: String,
    pub website_id: String,
    /// Where deliveries are posted.
    pub url: String,
    /// The kinds of message wanted, each one of [`WEBHOOK_KINDS`].
    pub kinds: Vec<String>,
    /// Only what happens in conversations (and to contacts) of this channel; none for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    /// Deleted: nothing more is sent to it, and it is no longer listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Validate for WebhookEndpoint {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.endpoint_id", &self.endpoint_id, limits::ID_CHARS)?;
        required("payload.website_id", &self.website_id, limits::ID_CHARS)?;
        required("payload.url", &self.url, limits::URL_CHARS)?;
        let lower = self.url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(FieldError::new("payload.url", "must be an http(s) URL"));
        }
        if self.kinds.is_empty() {
            return Err(FieldError::new(
                "payload.kinds",
                "must name at least one kind",
            ));
        }
        for kind in &self.kinds {
            if !WEBHOOK_KINDS.contains(&kind.as_str()) {
                return Err(FieldError::new(
                    "payload.kinds",
                    format!("unknown kind {kind:?}; one of {}", WEBHOOK_KINDS.join(", ")),
                ));
            }
        }
        bounded(
            "payload.channel",
            self.channel.as_deref(),
            limits::SHORT_CHARS,
        )?;
        bounded(
            "payload.description",
            self.description.as_deref(),
            limits::NAME_CHARS,
        )
    }
}
