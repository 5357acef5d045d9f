//! Contact ids: how a person's e-mail address or phone number becomes the key that names
//! their contact. Part of the contract: admin events and API paths carry these ids, and the
//! query API derives them to find a person by address (subject access requests).

use uuid::Uuid;

/// Namespace of contact keys (a random constant: keys only have to be stable, not meaningful).
const KEY_NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_04a2_8f3b_4d61_9e27_c0a4_b8d3_f1e6);

/// What kind of identifier a key stands for. The order is the order of preference for naming
/// a contact: an e-mail address before a phone number before a key only seen in admin events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Email = 0,
    Phone = 1,
    Named = 2,
}

impl Kind {
    pub fn from_i16(v: i16) -> Self {
        match v {
            0 => Kind::Email,
            1 => Kind::Phone,
            _ => Kind::Named,
        }
    }
}

/// `"  Olivia@Example.COM "` → `"olivia@example.com"`.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `"+1 (555) 010-2030"` → `"+15550102030"`; `"0044 20 7946 0000"` → `"+442079460000"`.
pub fn normalise_phone(phone: &str) -> String {
    let trimmed = phone.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if trimmed.starts_with('+') {
        format!("+{digits}")
    } else if let Some(international) = digits.strip_prefix("00") {
        format!("+{international}")
    } else {
        digits
    }
}

/// The key of an identifier on a website: also the id of a contact named after it.
pub fn key(website_id: &str, kind: Kind, normalised: &str) -> String {
    let name = format!("{website_id}\u{0}{}\u{0}{normalised}", kind as u8);
    Uuid::new_v5(&KEY_NAMESPACE, name.as_bytes()).to_string()
}

/// The key of an e-mail address (as typed) on a website.
pub fn email_key(website_id: &str, email: &str) -> String {
    key(website_id, Kind::Email, &normalise_email(email))
}

/// The key of a phone number (as typed) on a website.
pub fn phone_key(website_id: &str, phone: &str) -> String {
    key(website_id, Kind::Phone, &normalise_phone(phone))
}

/// Namespace of customer keys.
const CUSTOMER_NAMESPACE: Uuid = Uuid::from_u128(0x8d27_3f4e_a1b0_4c95_b6e3_52d1_07f9_ac48);

/// A website's customer id as a key: what `customer.erased` names, so the erasure event does
/// not carry the id itself, and what conversations keep after their customer id is erased, so
/// data arriving later for that customer is still recognised.
pub fn customer_key(website_id: &str, customer_id: &str) -> String {
    let name = format!("{website_id}\u{0}{customer_id}");
    Uuid::new_v5(&CUSTOMER_NAMESPACE, name.as_bytes()).to_string()
}
