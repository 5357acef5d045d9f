//! What a delivery says: read from the read models when it is sent, so it carries what a CRM
//! needs in the clear as things stand then, and nothing about a person erased in between.
//! The shapes are the API's own rows (docs/webhooks.md).

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::store::contacts::{self, ContactRow};
use crate::store::conversations::{self, ConversationRow};
use crate::store::requests::{self, RequestRow};
use crate::store::webhooks::Claimed;

/// A delivery's `data`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Data {
    Contact {
        contact: Box<ContactRow>,
        /// The conversation of the contact form that created or updated it.
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        /// For a merge: the contacts now part of this one.
        #[serde(skip_serializing_if = "Option::is_none")]
        merged_contact_ids: Option<Value>,
    },
    Request {
        request: Box<RequestRow>,
        contact: Option<Box<ContactRow>>,
    },
    Conversation {
        conversation: Box<ConversationRow>,
        contact: Option<Box<ContactRow>>,
    },
    /// `contact.erased` and `webhook.test`: ids only.
    Ids(Value),
}

/// Why a delivery is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gone {
    /// The person it is about was erased.
    Erased,
    /// What it is about is not in the read models (it cannot be, short of a rebuild that
    /// changed them).
    Missing(&'static str),
}

/// The `data` of `claimed`, or why there is none to send.
pub async fn data(pool: &PgPool, claimed: &Claimed) -> Result<Result<Data, Gone>, sqlx::Error> {
    let subject = &claimed.subject.0;
    let field = |name: &str| subject.get(name).and_then(Value::as_str).map(str::to_owned);
    let website = [claimed.website_id.clone()];
    let contact = match field("contact_id") {
        Some(id) => contacts::find(pool, Some(&website[..]), &id)
            .await?
            .map(Box::new),
        None => None,
    };
    if contact.as_ref().is_some_and(|c| c.erased_at.is_some()) && claimed.kind != "contact.erased" {
        return Ok(Err(Gone::Erased));
    }
    Ok(Ok(match claimed.kind.as_str() {
        "contact.created" | "contact.updated" => {
            let Some(contact) = contact else {
                return Ok(Err(Gone::Missing("contact")));
            };
            Data::Contact {
                contact,
                conversation_id: field("conversation_id"),
                merged_contact_ids: subject.get("merged_contact_ids").cloned(),
            }
        }
        "contact_request.created" | "contact_request.status_changed" => {
            let id = field("request_id").unwrap_or_default();
            let Some(request) = requests::find(pool, Some(&website[..]), &id).await?.pop() else {
                return Ok(Err(Gone::Missing("request")));
            };
            Data::Request {
                request: Box::new(request),
                contact,
            }
        }
        "conversation.closed" | "conversation.rated" | "conversation.handed_off" => {
            let id = field("conversation_id").unwrap_or_default();
            let found = conversations::find(pool, Some(&website[..]), &id).await?;
            let Some(conversation) = found.into_iter().next() else {
                return Ok(Err(Gone::Missing("conversation")));
            };
            Data::Conversation {
                conversation: Box::new(conversation),
                contact,
            }
        }
        "webhook.test" => Data::Ids(json!({
            "endpoint_id": claimed.endpoint_id,
            "website_id": claimed.website_id,
            "message": "a test delivery, sent because an admin asked for one",
        })),
        _ => Data::Ids(subject.clone()),
    }))
}

/// The body posted: Standard Webhooks' recommended envelope.
pub fn body(claimed: &Claimed, data: &Data) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&json!({
        "type": claimed.kind,
        "timestamp": claimed.occurred_at,
        "website_id": claimed.website_id,
        "data": data,
    }))
}
