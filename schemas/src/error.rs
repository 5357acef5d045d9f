//! Validation errors that say which field is wrong, so a client can fix its request.

use std::fmt;

/// One invalid or missing field, e.g. `payload.sender: expected one of user, bot, agent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// Dotted path from the event's root, e.g. `payload.text` or `context.page_url`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Converts a serde error, located by `serde_path_to_error`, into a field error under
    /// `prefix` (empty for the envelope, `payload` for the payload).
    pub(crate) fn from_serde(
        prefix: &str,
        error: serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let mut path = error.path().to_string();
        if path == "." {
            path.clear();
        }
        let mut message = error.inner().to_string();
        // serde_json appends " at line 1 column 42"; the field path says more than that.
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        // serde reports a missing field at its parent; name the field itself instead.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            path = join(&path, name);
            message = "is required".to_owned();
        }
        Self {
            field: join(prefix, &path),
            message,
        }
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}
