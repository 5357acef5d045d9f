//! Event types and their payloads: the catalogue.
//!
//! Every type has a current `schema_version` and a producer: clients (widgets, bots, bridges,
//! through ingest) or admins (through the query API, never accepted from a write key).
//! [`Payload::parse`] accepts any version a client or the topic may still hold and upcasts it
//! step by step to the current one, so projections only ever see the newest shape.
//!
//! - this module: the catalogue ([`EventType`], [`Payload`]) and parsing;
//! - [`upcast`]: older versions rewritten to the current one, [`past`]: their shapes;
//! - [`conversation`], [`contacts`], [`websites`], [`webhooks`]: the payloads, by what they are about;
//! - [`checks`] and [`limits`]: the field checks they share.

mod checks;
mod contacts;
mod conversation;
pub mod limits;
pub mod past;
mod upcast;
mod webhooks;
mod websites;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FieldError;
use upcast::upcast_step;

pub(crate) use checks::bounded;
pub use contacts::*;
pub use conversation::*;
pub use webhooks::*;
pub use websites::*;

/// Who may produce an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// Widgets, bot backends and messenger bridges, with a website's write key.
    Client,
    /// Admins, through the query API.
    Admin,
}

/// Declares the catalogue once: each row is `Variant => "type.name", PayloadStruct, version,
/// producer`. Everything that must list every type is generated from it.
macro_rules! catalogue {
    ($($variant:ident => $name:literal, $payload:ident, $version:literal, $producer:ident;)*) => {
        /// The name of every event type, past tense and dotted, as it appears in `type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant,)*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }

            /// The version new events of this type are written with.
            pub fn current_version(self) -> u32 {
                match self {
                    $(EventType::$variant => $version,)*
                }
            }

            pub fn producer(self) -> Producer {
                match self {
                    $(EventType::$variant => Producer::$producer,)*
                }
            }

            /// JSON Schema of the current payload version.
            pub fn payload_schema(self) -> schemars::Schema {
                match self {
                    $(EventType::$variant => schemars::schema_for!($payload),)*
                }
            }

            /// The current payload version's schema from `generator`: a `$ref` into its
            /// definitions, for documents (OpenAPI) that gather every schema in one place.
            pub fn payload_subschema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self {
                    $(EventType::$variant => generator.subschema_for::<$payload>(),)*
                }
            }
        }

        /// A typed payload, tagged with its event type. Serialises as `"type": …, "payload": {…}`.
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        #[serde(tag = "type", content = "payload")]
        pub enum Payload {
            $(#[serde(rename = $name)] $variant($payload),)*
        }

        impl Payload {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Payload::$variant(_) => EventType::$variant,)*
                }
            }

            fn from_current(event_type: EventType, value: Value) -> Result<Self, FieldError> {
                Ok(match event_type {
                    $(EventType::$variant => Payload::$variant(from_value(value)?),)*
                })
            }

            /// The checks beyond the types, for payloads built in code (admin actions).
            pub fn validate(&self) -> Result<(), FieldError> {
                match self {
                    $(Payload::$variant(p) => p.validate(),)*
                }
            }
        }
    };
}

catalogue! {
    WidgetLoaded => "widget.loaded", WidgetLoaded, 1, Client;
    ConversationStarted => "conversation.started", ConversationStarted, 1, Client;
    MessageSent => "message.sent", MessageSent, 2, Client;
    CtaClicked => "cta.clicked", CtaClicked, 1, Client;
    ContactSubmitted => "contact.submitted", ContactSubmitted, 1, Client;
    ConversationRated => "conversation.rated", ConversationRated, 1, Client;
    ConversationClosed => "conversation.closed", ConversationClosed, 1, Client;
    ContactIdentified => "contact.identified", ContactIdentified, 1, Client;
    MessageFlaggedForHuman => "message.flagged_for_human", MessageRef, 1, Admin;
    MessageHumanReplied => "message.human_replied", MessageRef, 1, Admin;
    ContactRequestStatusChanged => "contact_request.status_changed", ContactRequestStatusChanged, 1, Admin;
    ContactUpdated => "contact.updated", ContactUpdated, 1, Admin;
    ContactsMerged => "contacts.merged", ContactsMerged, 1, Admin;
    ContactErased => "contact.erased", ContactErased, 1, Admin;
    WebsiteCreated => "website.created", WebsiteCreated, 1, Admin;
    TokenCreated => "token.created", TokenCreated, 1, Admin;
    TokenRevoked => "token.revoked", TokenRevoked, 1, Admin;
    WebsitePrivacyChanged => "website.privacy_changed", WebsitePrivacy, 1, Admin;
    RetentionApplied => "retention.applied", RetentionApplied, 1, Admin;
    WebsiteReportsChanged => "website.reports_changed", WebsiteReports, 1, Admin;
    CustomerErased => "customer.erased", CustomerErased, 1, Admin;
    WebsiteTimeZoneChanged => "website.time_zone_changed", WebsiteTimeZone, 1, Admin;
    WebsiteBotSettingsChanged => "website.bot_settings_changed", WebsiteBotSettings, 1, Admin;
    ConversationPriorityChanged => "conversation.priority_changed", ConversationPriority, 1, Admin;
    WebsiteLeadKeywordsChanged => "website.lead_keywords_changed", WebsiteLeadKeywords, 1, Admin;
    WebhookEndpointChanged => "webhook.endpoint_changed", WebhookEndpoint, 1, Admin;
}

impl EventType {
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl Payload {
    /// Parses and validates `value` as the payload of `event_type` written at `version`,
    /// upcasting older versions. Errors name fields under `payload.`.
    pub fn parse(event_type: EventType, version: u32, value: Value) -> Result<Self, FieldError> {
        let current = event_type.current_version();
        if version == 0 || version > current {
            return Err(FieldError::new(
                "schema_version",
                format!(
                    "{} supports versions 1 to {current}, got {version}",
                    event_type.name()
                ),
            ));
        }
        let mut value = value;
        for from in version..current {
            value = upcast_step(event_type, from, value)?;
        }
        let payload = Self::from_current(event_type, value)?;
        payload.validate()?;
        Ok(payload)
    }

    /// Like [`Payload::parse`] for a current-version payload whose personal fields were erased
    /// (its sealing key is gone): without them it need not pass validation (a contact form
    /// with neither e-mail nor phone), and it was validated when it was written.
    pub fn parse_erased(event_type: EventType, value: Value) -> Result<Self, FieldError> {
        Self::from_current(event_type, value)
    }
}

fn from_value<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| FieldError::from_serde("payload", e))
}

/// Payload checks beyond what the types say.
trait Validate {
    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
