//! SQL for the admin views. Handlers call these functions; no SQL lives in a handler.

pub mod conversations;
