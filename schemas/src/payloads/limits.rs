//! Upper bounds on string fields, in characters.

pub const ID_CHARS: usize = 256;
pub const URL_CHARS: usize = 4096;
pub const TEXT_CHARS: usize = 16_384;
pub const SHORT_CHARS: usize = 64;
pub const NAME_CHARS: usize = 256;
pub const EMAIL_CHARS: usize = 320;
pub const PHONE_CHARS: usize = 32;
pub const CHAT_CONTEXT_ENTRIES: usize = 500;
/// 30 days. Read models sum response times per conversation and day in a `bigint`; values
/// near `u64::MAX` overflowed it, and Postgres then refused the projector's batch.
pub const RESPONSE_TIME_MS: u64 = 30 * 24 * 3600 * 1000;
