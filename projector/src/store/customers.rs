//! Erasure by a website's own customer id (`customer.erased`): every conversation any of
//! whose events named an erased customer loses its personal data
//! ([`super::contacts::CONVERSATION_SCRUBS`]), when the erasure arrives and whenever more data
//! for such a conversation does. The customers seen per conversation and the erased ones only
//! grow, so any order of replay gives the same tables.
//!
//! The person's contact, if the conversations led to one, is erased by its own event
//! (`POST /v1/subjects/erase` produces both).

use sqlx::PgConnection;

use super::contacts::{self, CONVERSATION_SCRUBS};
use crate::projections::{ConversationCustomer, ErasedCustomer};

/// Records the batch's erased customer keys and erases their conversations; then erases what
/// the batch wrote to conversations of customers erased before. `per_batch` is false during a
/// rebuild's bulk phase, which leaves both to [`erase_all`].
pub async fn apply(
    conn: &mut PgConnection,
    seen: &[ConversationCustomer],
    erased: &[ErasedCustomer],
    conversations: &[(String, String)],
    per_batch: bool,
) -> Result<(), sqlx::Error> {
    if !seen.is_empty() {
        let mut websites = Vec::new();
        let mut ids = Vec::new();
        let mut keys = Vec::new();
        for s in seen {
            websites.push(s.website_id.as_str());
            ids.push(s.conversation_id.as_str());
            keys.push(s.customer_key.as_str());
        }
        sqlx::query(
            "INSERT INTO conversation_customers (website_id, conversation_id, customer_key)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&websites)
        .bind(&ids)
        .bind(&keys)
        .execute(&mut *conn)
        .await?;
    }
    if !erased.is_empty() {
        let (websites, keys): (Vec<&str>, Vec<&str>) = erased
            .iter()
            .map(|e| (e.website_id.as_str(), e.customer_key.as_str()))
            .unzip();
        sqlx::query(
            "INSERT INTO erased_customers (website_id, customer_key)
             SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&websites)
        .bind(&keys)
        .execute(&mut *conn)
        .await?;
        if per_batch {
            scrub(
                conn,
                "SELECT DISTINCT c.website_id, c.conversation_id
                 FROM UNNEST($1::text[], $2::text[]) AS e(website_id, customer_key)
                 JOIN conversation_customers c USING (website_id, customer_key)",
                Some((&websites, &keys)),
                Contacts::Rebuild,
            )
            .await?;
        }
    }
    if per_batch && !conversations.is_empty() {
        let (websites, ids): (Vec<&str>, Vec<&str>) = conversations
            .iter()
            .map(|(w, c)| (w.as_str(), c.as_str()))
            .unzip();
        scrub(
            conn,
            "SELECT DISTINCT c.website_id, c.conversation_id
             FROM UNNEST($1::text[], $2::text[]) AS t(website_id, conversation_id)
             JOIN conversation_customers c USING (website_id, conversation_id)
             JOIN erased_customers e USING (website_id, customer_key)",
            Some((&websites, &ids)),
            Contacts::Rebuild,
        )
        .await?;
    }
    Ok(())
}

/// Whether a scrub builds again the rows of the contacts who submitted something in the
/// scrubbed conversations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Contacts {
    Rebuild,
    /// A rebuild's derive pass builds every contact row after the scrubs.
    Later,
}

/// Every conversation of every erased customer: a rebuild's derive pass, before it builds the
/// contact rows.
pub async fn erase_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    scrub(
        conn,
        "SELECT DISTINCT c.website_id, c.conversation_id
         FROM conversation_customers c JOIN erased_customers e USING (website_id, customer_key)",
        None,
        Contacts::Later,
    )
    .await
}

/// Runs the conversation scrubs over `scope`, a query of `(website_id, conversation_id)`
/// taking the two text arrays of `arrays` as `$1` and `$2`, if given.
async fn scrub(
    conn: &mut PgConnection,
    scope: &str,
    arrays: Option<(&[&str], &[&str])>,
    contact_rows: Contacts,
) -> Result<(), sqlx::Error> {
    let exists = format!("SELECT EXISTS ({scope})");
    let found = sqlx::query_scalar::<_, bool>(&exists);
    let found = match arrays {
        Some((a, b)) => found.bind(a).bind(b),
        None => found,
    };
    if !found.fetch_one(&mut *conn).await? {
        return Ok(());
    }
    for statement in CONVERSATION_SCRUBS {
        let sql = format!("WITH scope AS MATERIALIZED ({scope}) {statement}");
        let query = sqlx::query(&sql);
        let query = match arrays {
            Some((a, b)) => query.bind(a).bind(b),
            None => query,
        };
        query.execute(&mut *conn).await?;
    }
    if contact_rows == Contacts::Rebuild {
        contacts::rebuild_observed_in(conn, scope, arrays).await?;
    }
    Ok(())
}
