//! The SQL behind each view, as small functions returning `*Row` types.

pub mod contacts;
pub mod conversations;
pub mod requests;
pub mod stats;
pub mod subjects;
pub mod websites;
