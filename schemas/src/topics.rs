//! Kafka topics and the headers Colloquy puts on their records.

/// The topics Colloquy reads and writes. Names are defaults; deployments can override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Every event, keyed by conversation id so one conversation stays in one partition.
    ChatEvents,
    /// Records the projector could not apply, with the reason in headers.
    ChatEventsDeadLetter,
}

impl Topic {
    pub const ALL: [Topic; 2] = [Topic::ChatEvents, Topic::ChatEventsDeadLetter];

    pub fn default_name(self) -> &'static str {
        match self {
            Topic::ChatEvents => "chat-events",
            Topic::ChatEventsDeadLetter => "chat-events-dlq",
        }
    }
}

/// Header names on dead-lettered records.
/// The header of an admin event's record that proves query-api (or the operator's tools) made
/// it: `<key id>:<hex HMAC-SHA256 of the record's key and value>` (`runtime::proof`).
pub const PROOF_HEADER: &str = "colloquy-proof";

pub mod dead_letter_headers {
    pub const REASON: &str = "colloquy-dlq-reason";
    pub const SOURCE_TOPIC: &str = "colloquy-source-topic";
    pub const SOURCE_PARTITION: &str = "colloquy-source-partition";
    pub const SOURCE_OFFSET: &str = "colloquy-source-offset";
}
