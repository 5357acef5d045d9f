//! The wire contract shared by every Colloquy service.
//!
//! Ingest parses what clients send into [`IncomingEvent`]s and enriches them into [`Event`]s;
//! the [`Event`] JSON is what the `chat-events` topic holds, and the projector decodes it back
//! with [`Event::decode`]. No service defines an event type of its own.
//!
//! # Layout
//! - [`envelope`]: the stored [`Event`], its [`Context`], and the client-side [`IncomingEvent`].
//! - [`payloads`]: one struct per event type, and the [`Payload`] enum that tags them.
//! - [`sealing`]: personal fields encrypted under their subject's key, so erasure survives
//!   replay (crypto-shredding).
//! - [`error`]: [`FieldError`], a validation failure that names the offending field.
//! - `testing` (feature `testing`): event builders for tests.
//! - [`topics`]: the Kafka topics and their message headers.
//! - [`live`]: the changes the live projector announces as it commits, for `GET /v1/stream`.
//! - [`json_schema`]: JSON Schema documents generated from these types (checked in under `json/`).

pub mod contact_keys;
pub mod envelope;
pub mod error;
pub mod json_schema;
pub mod live;
pub mod payloads;
pub mod sealing;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod topics;

pub use envelope::{
    Consent, Context, Environment, Event, IncomingContext, IncomingEvent, Pseudonyms, StoredEvent,
};
pub use error::FieldError;
pub use payloads::{EventType, Payload, Producer, Sender};
