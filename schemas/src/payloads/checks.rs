//! The field checks payloads (and the envelope) share: required, bounded, e-mail, phone and
//! time zone shapes. Each error names its field.

use super::limits;
use crate::error::FieldError;

pub(crate) fn bounded(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), FieldError> {
    match value {
        Some(v) if v.chars().count() > max_chars => Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn required(field: &str, value: &str, max_chars: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    bounded(field, Some(value), max_chars)
}

pub(super) fn email(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    let Some(v) = value else { return Ok(()) };
    bounded(field, Some(v), limits::EMAIL_CHARS)?;
    let valid = v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !v.chars().any(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(field, "is not an e-mail address"))
    }
}

pub(super) fn phone(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    let Some(v) = value else { return Ok(()) };
    bounded(field, Some(v), limits::PHONE_CHARS)?;
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if allowed && digits >= 5 {
        Ok(())
    } else {
        Err(FieldError::new(field, "is not a phone number"))
    }
}

/// A person's details as a client names them (a form, an identification): a name, an e-mail
/// address and a phone number, each well-formed, and at least one of the last two, which are
/// what a contact is known by.
pub(super) fn person(
    name: Option<&str>,
    email_address: Option<&str>,
    phone_number: Option<&str>,
) -> Result<(), FieldError> {
    bounded("payload.name", name, limits::NAME_CHARS)?;
    email("payload.email", email_address)?;
    phone("payload.phone", phone_number)?;
    if email_address.is_none() && phone_number.is_none() {
        return Err(FieldError::new(
            "payload.email",
            "an e-mail address or a phone number is required",
        ));
    }
    Ok(())
}

/// The shape of an IANA time zone name; whether Postgres knows it is checked by query-api.
pub(super) fn time_zone(field: &str, zone: &str) -> Result<(), FieldError> {
    let shape = zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if zone.is_empty() || zone.len() > limits::SHORT_CHARS || !shape {
        return Err(FieldError::new(
            field,
            "is not a time zone name (such as Europe/Berlin)",
        ));
    }
    Ok(())
}
