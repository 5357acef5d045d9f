//! Everything held about one person, for a data-subject access request: their contacts, what
//! they submitted and what admins edited, their conversations with every message, CTA click
//! and raw event, and their contact requests. Rows are exported whole (`to_jsonb`), so a
//! column added to a table is in the export without changing this file.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgPool;
use sqlx::types::Json;

/// The `(website_id, key)` pairs among `keys` that name an identity, as their contacts.
pub async fn contacts_of_keys(
    pool: &PgPool,
    keys: &[(String, String)],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let (websites, keys): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(w, k)| (w.as_str(), k.as_str())).unzip();
    sqlx::query_as(
        "SELECT DISTINCT i.website_id, i.contact_id
         FROM UNNEST($1::text[], $2::text[]) AS k(website_id, key)
         JOIN contact_identities i USING (website_id, key)",
    )
    .bind(websites)
    .bind(keys)
    .fetch_all(pool)
    .await
}

/// For `(website_id, customer_key)` pairs: the websites where any conversation has that
/// customer, and the contacts those conversations lead to (`None` where there is none).
pub async fn customer_reach(
    pool: &PgPool,
    keys: &[(String, String)],
) -> Result<Vec<(String, String, Option<String>)>, sqlx::Error> {
    let (websites, keys): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(w, k)| (w.as_str(), k.as_str())).unzip();
    sqlx::query_as(
        "SELECT DISTINCT k.website_id, k.customer_key, c.contact_id
         FROM UNNEST($1::text[], $2::text[]) AS k(website_id, customer_key)
         JOIN conversation_customers cc USING (website_id, customer_key)
         JOIN conversations c USING (website_id, conversation_id)
         ORDER BY 1, 2, 3",
    )
    .bind(websites)
    .bind(keys)
    .fetch_all(pool)
    .await
}

/// The conversations in `scope` where the client named this customer.
pub async fn conversations_of_customer(
    pool: &PgPool,
    scope: Option<&[String]>,
    customer_id: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT website_id, conversation_id FROM conversations
         WHERE customer_id = $1 AND ($2::text[] IS NULL OR website_id = ANY($2))",
    )
    .bind(customer_id)
    .bind(scope)
    .fetch_all(pool)
    .await
}

/// One document, read in one statement (one snapshot): the `contacts` and `conversations`
/// given, each widened by the other (a contact's conversations, a conversation's contact).
/// Everything held about one person, each row whole as its table has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Held {
    pub contacts: Vec<Map<String, Value>>,
    /// What they submitted in contact forms.
    pub submissions: Vec<Map<String, Value>>,
    /// What admins changed of their contacts.
    pub edits: Vec<Map<String, Value>>,
    pub contact_requests: Vec<Map<String, Value>>,
    pub conversations: Vec<Map<String, Value>>,
    pub messages: Vec<Map<String, Value>>,
    pub cta_clicks: Vec<Map<String, Value>>,
    /// The raw events of their conversations.
    pub events: Vec<Map<String, Value>>,
}

pub async fn export(
    pool: &PgPool,
    contacts: &[(String, String)],
    conversations: &[(String, String)],
) -> Result<Held, sqlx::Error> {
    let split = |pairs: &[(String, String)]| -> (Vec<String>, Vec<String>) {
        pairs.iter().cloned().unzip()
    };
    let (contact_websites, contact_ids) = split(contacts);
    let (conversation_websites, conversation_ids) = split(conversations);
    sqlx::query_scalar::<_, Json<Held>>(
        "WITH given_contacts AS (
            SELECT * FROM UNNEST($1::text[], $2::text[]) AS g(website_id, contact_id)),
         given_conversations AS (
            SELECT * FROM UNNEST($3::text[], $4::text[]) AS g(website_id, conversation_id)),
         contact_set AS (
            SELECT website_id, contact_id FROM given_contacts
            UNION
            SELECT c.website_id, c.contact_id
            FROM conversations c JOIN given_conversations USING (website_id, conversation_id)
            WHERE c.contact_id IS NOT NULL),
         keys AS (
            SELECT i.website_id, i.key
            FROM contact_identities i JOIN contact_set USING (website_id, contact_id)),
         submissions AS (
            SELECT o.* FROM contact_observations o JOIN keys USING (website_id, key)),
         edits AS (
            SELECT e.* FROM contact_edits e JOIN keys USING (website_id, key)),
         conversation_set AS (
            SELECT website_id, conversation_id FROM given_conversations
            UNION
            SELECT website_id, conversation_id FROM submissions
            UNION
            SELECT c.website_id, c.conversation_id
            FROM conversations c JOIN contact_set USING (website_id, contact_id))
         SELECT jsonb_build_object(
            'contacts', (SELECT COALESCE(jsonb_agg(to_jsonb(c) ORDER BY c.website_id, c.contact_id), '[]')
                         FROM contacts c JOIN contact_set USING (website_id, contact_id)),
            'submissions', (SELECT COALESCE(jsonb_agg(to_jsonb(s) ORDER BY s.occurred_at, s.event_id), '[]')
                            FROM submissions s),
            'edits', (SELECT COALESCE(jsonb_agg(to_jsonb(e) ORDER BY e.occurred_at, e.event_id), '[]')
                      FROM edits e),
            'contact_requests', (
                SELECT COALESCE(jsonb_agg(to_jsonb(r) ORDER BY r.created_at, r.request_id), '[]')
                FROM contact_requests r
                WHERE (r.website_id, r.conversation_id) IN (SELECT * FROM conversation_set)
                   OR (r.website_id, r.contact_id) IN (SELECT * FROM contact_set)),
            'conversations', (
                SELECT COALESCE(jsonb_agg(to_jsonb(c) ORDER BY c.first_seen_at, c.conversation_id), '[]')
                FROM conversations c JOIN conversation_set USING (website_id, conversation_id)),
            'messages', (
                SELECT COALESCE(jsonb_agg(to_jsonb(m) ORDER BY m.sent_at, m.event_id), '[]')
                FROM messages m JOIN conversation_set USING (website_id, conversation_id)),
            'cta_clicks', (
                SELECT COALESCE(jsonb_agg(to_jsonb(k) ORDER BY k.clicked_at, k.event_id), '[]')
                FROM cta_clicks k JOIN conversation_set USING (website_id, conversation_id)),
            'events', (
                SELECT COALESCE(jsonb_agg(to_jsonb(l) ORDER BY l.occurred_at, l.event_id), '[]')
                FROM event_log l JOIN conversation_set USING (website_id, conversation_id)))",
    )
    .bind(contact_websites)
    .bind(contact_ids)
    .bind(conversation_websites)
    .bind(conversation_ids)
    .fetch_one(pool)
    .await
    .map(|Json(held): Json<Held>| held)
}
