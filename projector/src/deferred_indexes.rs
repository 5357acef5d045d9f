//! Indexes that only serve reads (query-api's lists, filters and exports). A rebuild drops them
//! from the new version before its bulk load and creates them once at its end: building an
//! index over finished tables costs a fraction of maintaining it row by row through every
//! batch and through the derive pass's link updates.
//!
//! Indexes the projector itself reads while applying (primary keys, the conflict targets of its
//! upserts, the identity and change lookups, messages by `message_id`) are not listed and stay.

use sqlx::PgPool;

/// By name; every one must exist in the migrated schema (a test keeps this list honest).
pub const READ_ONLY: &[&str] = &[
    "event_log_by_website_time",
    "event_log_by_time",
    "conversations_newest",
    "conversations_newest_all",
    "conversations_engaged",
    "conversations_escalated",
    "conversations_by_status",
    "conversations_by_id",
    "conversations_by_contact",
    "conversations_by_address",
    "messages_by_conversation",
    "cta_clicks_by_website_time",
    "contact_requests_by_status",
    "contact_requests_newest",
    "contact_requests_by_id",
    "contact_requests_by_contact",
    "contact_requests_by_conversation",
    "contacts_newest",
    "contacts_newest_all",
    "contacts_by_first_seen",
    "contacts_name_trgm",
    "contacts_email_trgm",
    "contacts_phone_trgm",
    "conversations_started",
    "conversations_started_all",
    "started_quarters_all",
    "visitor_quarters_all",
];

/// The definitions of the [`READ_ONLY`] indexes of `schema`, as `CREATE INDEX` statements.
pub async fn definitions(pool: &PgPool, schema: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes
         WHERE schemaname = $1 AND indexname = ANY($2) ORDER BY indexname",
    )
    .bind(schema)
    .bind(READ_ONLY)
    .fetch_all(pool)
    .await
}

/// Drops the [`READ_ONLY`] indexes of `schema` and returns what re-creates them.
pub async fn drop(pool: &PgPool, schema: &str) -> Result<Vec<String>, sqlx::Error> {
    let definitions = definitions(pool, schema).await?;
    for name in READ_ONLY {
        sqlx::query(&format!("DROP INDEX IF EXISTS \"{schema}\".\"{name}\""))
            .execute(pool)
            .await?;
    }
    Ok(definitions)
}

/// Whether `definition` (a `CREATE INDEX` statement) indexes one of `tables`.
pub fn on_any(definition: &str, tables: &[&str]) -> bool {
    tables.iter().any(|t| {
        definition.contains(&format!(".{t} USING"))
            || definition.contains(&format!(" ON {t} USING"))
    })
}

/// Runs what [`drop`] returned.
pub async fn create(pool: &PgPool, definitions: &[String]) -> Result<(), sqlx::Error> {
    for definition in definitions {
        sqlx::query(definition).execute(pool).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::on_any;

    #[test]
    fn an_index_belongs_to_the_table_it_is_on_not_to_one_whose_name_it_contains() {
        let def = "CREATE INDEX conversations_by_contact ON rm_v3.conversations USING btree (website_id, contact_id)";
        assert!(on_any(def, &["conversations"]));
        assert!(!on_any(def, &["contacts"]));
        let unqualified =
            "CREATE INDEX archived_by_hour ON archived_conversations USING btree (hour)";
        assert!(on_any(unqualified, &["archived_conversations"]));
        assert!(!on_any(unqualified, &["conversations"]));
    }
}
