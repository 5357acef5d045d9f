//! Opening records from the topic: sealed personal fields are put back with their subjects'
//! keys from the key store (`schemas::sealing`). A key that is gone was erased: its records
//! decode without their personal fields, as they will in every later replay.

use std::collections::HashMap;

use schemas::{Event, FieldError, StoredEvent};
use sqlx::PgPool;
use uuid::Uuid;

/// Decodes `records`, reading the keys they are sealed with. An error reading the keys decodes
/// nothing, so that no record is taken for poison or erased because Postgres was unreachable.
pub async fn open<'a>(
    records: impl IntoIterator<Item = &'a [u8]>,
    keys: &PgPool,
) -> Result<Vec<Result<Event, FieldError>>, sqlx::Error> {
    let parsed: Vec<_> = records.into_iter().map(StoredEvent::parse).collect();
    let ids: Vec<Uuid> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok()?.key_id())
        .collect();
    let secrets = runtime::subject_keys::secrets(keys, &ids).await?;
    Ok(open_parsed(parsed, &secrets))
}

/// Decodes `records` with the key secrets given.
pub fn open_with<'a>(
    records: impl IntoIterator<Item = &'a [u8]>,
    secrets: &HashMap<Uuid, [u8; 32]>,
) -> Vec<Result<Event, FieldError>> {
    open_parsed(
        records.into_iter().map(StoredEvent::parse).collect(),
        secrets,
    )
}

fn open_parsed(
    parsed: Vec<Result<StoredEvent, FieldError>>,
    secrets: &HashMap<Uuid, [u8; 32]>,
) -> Vec<Result<Event, FieldError>> {
    parsed
        .into_iter()
        .map(|stored| {
            let stored = stored?;
            let secret = stored.key_id().and_then(|id| secrets.get(&id));
            stored.open(secret)
        })
        .collect()
}
