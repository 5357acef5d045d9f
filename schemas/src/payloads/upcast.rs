//! Upcasting: a payload of an older version rewritten step by step to the current one.

use serde_json::Value;

use super::{EventType, Sender};
use crate::error::FieldError;

/// Rewrites a payload of `event_type` at `version` as `version + 1`. When a type's current
/// version goes up, its step goes here, so old events in the topic and old clients keep
/// working (`Payload::parse` chains the steps). The shapes of past versions are kept in
/// [`super::past`] for their documentation.
pub(super) fn upcast_step(
    event_type: EventType,
    version: u32,
    value: Value,
) -> Result<Value, FieldError> {
    match (event_type, version) {
        // message.sent 1 → 2: `sender` was a bare role; it becomes an object with the role as
        // `type` (and, from version 2, who exactly: `id`, `name`).
        (EventType::MessageSent, 1) => {
            let mut value = value;
            if let Some(object) = value.as_object_mut()
                && let Some(Value::String(role)) = object.get("sender").cloned()
            {
                if !Sender::ALL.iter().any(|s| s.as_str() == role) {
                    return Err(FieldError::new(
                        "payload.sender",
                        "expected one of user, bot, agent",
                    ));
                }
                object.insert("sender".into(), serde_json::json!({ "type": role }));
            }
            Ok(value)
        }
        _ => Err(FieldError::new(
            "schema_version",
            format!("no upcaster from {} version {version}", event_type.name()),
        )),
    }
}
