//! Contacts: what a website's own systems say about a visitor (`contact.identified`), admin
//! events about contacts and their requests, and erasures of a person.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Validate;
use super::checks::{bounded, email, person, phone, required};
use super::limits;
use crate::error::FieldError;

/// A website's own systems said who the visitor of a conversation is (an `identify` call of the
/// Segment API): a contact, without a request to answer. An e-mail address or a phone number
/// is required, as they are what a contact is known by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactIdentified {
    /// The website's id for the person (`userId`, else `anonymousId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Validate for ContactIdentified {
    fn validate(&self) -> Result<(), FieldError> {
        bounded(
            "payload.customer_id",
            self.customer_id.as_deref(),
            limits::ID_CHARS,
        )?;
        person(
            self.name.as_deref(),
            self.email.as_deref(),
            self.phone.as_deref(),
        )
    }
}

/// Where a contact request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Contacted,
    Resolved,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Contacted => "contacted",
            RequestStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Contacted, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// The moves an admin may make: forward, or reopening a resolved request.
    pub fn can_move_to(self, to: RequestStatus) -> bool {
        use RequestStatus::*;
        matches!(
            (self, to),
            (Pending, Contacted)
                | (Pending, Resolved)
                | (Contacted, Resolved)
                | (Resolved, Pending)
        )
    }
}

/// An admin moved a contact request to another status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactRequestStatusChanged {
    pub request_id: String,
    pub status: RequestStatus,
    /// The status the admin saw; when the request has moved on since, the change is recorded as
    /// rejected instead of applied, so two admins cannot silently overwrite each other.
    pub expected_status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Validate for ContactRequestStatusChanged {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.request_id", &self.request_id, limits::ID_CHARS)?;
        bounded("payload.notes", self.notes.as_deref(), limits::TEXT_CHARS)
    }
}

/// A contact's lead status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Active,
    FollowUp,
    Archived,
}

/// An admin edited a contact; absent fields are left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactUpdated {
    pub contact_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_status: Option<LeadStatus>,
}

impl Validate for ContactUpdated {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.contact_id", &self.contact_id, limits::ID_CHARS)?;
        bounded("payload.name", self.name.as_deref(), limits::NAME_CHARS)?;
        email("payload.email", self.email.as_deref())?;
        phone("payload.phone", self.phone.as_deref())?;
        bounded("payload.notes", self.notes.as_deref(), limits::TEXT_CHARS)
    }
}

/// An admin merged contacts: the merged ones' conversations and requests move to the survivor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactsMerged {
    pub surviving_contact_id: String,
    pub merged_contact_ids: Vec<String>,
}

impl Validate for ContactsMerged {
    fn validate(&self) -> Result<(), FieldError> {
        required(
            "payload.surviving_contact_id",
            &self.surviving_contact_id,
            limits::ID_CHARS,
        )?;
        if self.merged_contact_ids.is_empty() {
            return Err(FieldError::new(
                "payload.merged_contact_ids",
                "must not be empty",
            ));
        }
        if self.merged_contact_ids.contains(&self.surviving_contact_id) {
            return Err(FieldError::new(
                "payload.merged_contact_ids",
                "must not contain the surviving contact",
            ));
        }
        Ok(())
    }
}

/// A data subject's erasure: the person's data is removed from every read model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactErased {
    pub contact_id: String,
}

impl Validate for ContactErased {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.contact_id", &self.contact_id, limits::ID_CHARS)
    }
}

/// An admin erased everything a website's own customer id names: its conversations lose their
/// personal data, now and when more arrives. Carries the key
/// ([`crate::contact_keys::customer_key`]), never the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerErased {
    pub customer_key: String,
}

impl Validate for CustomerErased {
    fn validate(&self) -> Result<(), FieldError> {
        required("payload.customer_key", &self.customer_key, limits::ID_CHARS)
    }
}
