//! `projector`: consumes the `chat-events` topic into the Postgres read models that
//! `query-api` serves. Exactly once: each batch's rows and the next offset of every partition
//! it read are committed in one transaction, and on start it seeks to the stored offsets.
//!
//! # Layout
//! - [`config`]: [`ProjectorConfig`], read from the environment.
//! - [`consumer`]: the consume → decode → apply → commit loop, and dead-lettering.
//! - [`leases`]: which worker of which projector process applies which partition.
//! - [`opening`]: decoding records, with sealed personal fields opened by their keys.
//! - [`proofs`]: which admin records carry a valid proof of origin, and so are applied.
//! - [`projections`]: pure functions from events to read-model changes.
//! - [`store`]: the SQL behind the read models and offsets; migrations in `migrations/`.
//! - [`dlq`]: `projector dlq list|replay`, the parked records of the dead-letter topic.
//! - [`versions`]: versioned read-model schemas, and the live projector's handshake with a rebuild.
//! - [`rebuild`]: `projector rebuild` — build the next version from offset 0, verify, switch.
//! - [`verify`]: per-table checksums and differing rows between two versions.
//! - [`deferred_indexes`]: the read-only indexes a rebuild creates after its bulk load.
//! - [`health`]: liveness, readiness and metrics endpoints.
//! - [`metrics`]: Prometheus metrics and their documented names.
//! - `testing` (feature `testing`): a migrated database for other crates' tests.

pub mod config;
pub mod consumer;
pub mod deferred_indexes;
pub mod dlq;
pub mod health;
pub mod leases;
pub mod metrics;
pub mod opening;
pub mod projections;
pub mod proofs;
pub mod rebuild;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;
pub mod versions;

pub use config::ProjectorConfig;
