//! Upserts websites; the earliest `(created_at, event_id)` wins, so any order converges.

use schemas::payloads::WebsiteLeadKeywords;
use sqlx::PgConnection;

use crate::projections::NewWebsite;
use crate::projections::websites::{
    BotSettingsChange, LeadKeywordsChange, NewToken, PrivacyChange, ReportsChange, TimeZoneChange,
    TokenRevocation,
};

pub async fn upsert(conn: &mut PgConnection, rows: &[NewWebsite]) -> Result<(), sqlx::Error> {
    announce(conn, rows).await?;
    for w in rows {
        // Websites are created rarely; one statement each keeps the array-of-arrays out of UNNEST.
        sqlx::query(
            "INSERT INTO websites AS w (website_id, name, write_key, allowed_origins, created_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (website_id) DO UPDATE SET
                name = EXCLUDED.name, write_key = EXCLUDED.write_key,
                allowed_origins = EXCLUDED.allowed_origins,
                created_at = EXCLUDED.created_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.created_at, EXCLUDED.event_id) < (w.created_at, w.event_id)",
        )
        .bind(&w.website_id)
        .bind(&w.name)
        .bind(&w.write_key)
        .bind(&w.allowed_origins)
        .bind(w.created_at)
        .bind(w.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Tells ingest, once the batch commits, that write keys or privacy settings changed, so it
/// applies them from its next requests rather than at its next reload
/// ([`runtime::wakeup::WEBSITES`]; one notification per transaction however often it is sent).
async fn announce<T>(conn: &mut PgConnection, rows: &[T]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    runtime::wakeup::notify(&mut *conn, runtime::wakeup::WEBSITES, "").await
}

/// The latest `(changed_at, event_id)` wins, so any order converges.
pub async fn upsert_privacy(
    conn: &mut PgConnection,
    rows: &[PrivacyChange],
) -> Result<(), sqlx::Error> {
    announce(conn, rows).await?;
    for p in rows {
        sqlx::query(
            "INSERT INTO website_privacy AS p (website_id, anonymize_ip, changed_at, event_id,
                    retention_days, contact_review_months, record_country)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (website_id) DO UPDATE SET
                anonymize_ip = EXCLUDED.anonymize_ip,
                record_country = EXCLUDED.record_country,
                retention_days = EXCLUDED.retention_days,
                contact_review_months = EXCLUDED.contact_review_months,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (p.changed_at, p.event_id)",
        )
        .bind(&p.website_id)
        .bind(p.anonymize_ip)
        .bind(p.changed_at)
        .bind(p.event_id)
        .bind(p.retention_days)
        .bind(p.contact_review_months)
        .bind(p.record_country)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The latest `(changed_at, event_id)` wins, so any order converges.
pub async fn upsert_reports(
    conn: &mut PgConnection,
    rows: &[ReportsChange],
) -> Result<(), sqlx::Error> {
    for r in rows {
        sqlx::query(
            "INSERT INTO website_reports AS r (website_id, recipients, time_zone, weekday, hour,
                    changed_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (website_id) DO UPDATE SET
                recipients = EXCLUDED.recipients, time_zone = EXCLUDED.time_zone,
                weekday = EXCLUDED.weekday, hour = EXCLUDED.hour,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (r.changed_at, r.event_id)",
        )
        .bind(&r.website_id)
        .bind(&r.recipients)
        .bind(&r.time_zone)
        .bind(r.weekday)
        .bind(r.hour)
        .bind(r.changed_at)
        .bind(r.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The latest `(changed_at, event_id)` wins, so any order converges.
pub async fn upsert_time_zones(
    conn: &mut PgConnection,
    rows: &[TimeZoneChange],
) -> Result<(), sqlx::Error> {
    for z in rows {
        sqlx::query(
            "INSERT INTO website_time_zones AS z (website_id, time_zone, changed_at, event_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (website_id) DO UPDATE SET
                time_zone = EXCLUDED.time_zone,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (z.changed_at, z.event_id)",
        )
        .bind(&z.website_id)
        .bind(&z.time_zone)
        .bind(z.changed_at)
        .bind(z.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The latest `(changed_at, event_id)` wins, so any order converges.
pub async fn upsert_bot_settings(
    conn: &mut PgConnection,
    rows: &[BotSettingsChange],
) -> Result<(), sqlx::Error> {
    for b in rows {
        sqlx::query(
            "INSERT INTO website_bot_settings AS b
                 (website_id, low_confidence, idle_minutes, changed_at, event_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (website_id) DO UPDATE SET
                low_confidence = EXCLUDED.low_confidence, idle_minutes = EXCLUDED.idle_minutes,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (b.changed_at, b.event_id)",
        )
        .bind(&b.website_id)
        .bind(b.low_confidence)
        .bind(b.idle_minutes)
        .bind(b.changed_at)
        .bind(b.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The latest `(changed_at, event_id)` wins, so any order converges.
pub async fn upsert_lead_keywords(
    conn: &mut PgConnection,
    rows: &[LeadKeywordsChange],
) -> Result<(), sqlx::Error> {
    let patterns = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|k| WebsiteLeadKeywords::pattern(k))
            .collect()
    };
    for k in rows {
        sqlx::query(
            "INSERT INTO website_lead_keywords AS k
                 (website_id, pricing, demo, pricing_patterns, demo_patterns, changed_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (website_id) DO UPDATE SET
                pricing = EXCLUDED.pricing, demo = EXCLUDED.demo,
                pricing_patterns = EXCLUDED.pricing_patterns,
                demo_patterns = EXCLUDED.demo_patterns,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (k.changed_at, k.event_id)",
        )
        .bind(&k.website_id)
        .bind(&k.pricing)
        .bind(&k.demo)
        .bind(patterns(&k.pricing))
        .bind(patterns(&k.demo))
        .bind(k.changed_at)
        .bind(k.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn upsert_tokens(conn: &mut PgConnection, rows: &[NewToken]) -> Result<(), sqlx::Error> {
    for t in rows {
        sqlx::query(
            "INSERT INTO api_tokens AS t (token_digest, websites, name, expires_at, may_mint,
                                          created_by, created_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (token_digest) DO UPDATE SET
                websites = EXCLUDED.websites, name = EXCLUDED.name,
                expires_at = EXCLUDED.expires_at, may_mint = EXCLUDED.may_mint,
                created_by = EXCLUDED.created_by,
                created_at = EXCLUDED.created_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.created_at, EXCLUDED.event_id) < (t.created_at, t.event_id)",
        )
        .bind(&t.token_digest)
        .bind(&t.websites)
        .bind(&t.name)
        .bind(t.expires_at)
        .bind(t.may_mint)
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Revocations, `(token_digest, revoked_at, event_id)`: the earliest of a token's stands.
pub async fn insert_token_revocations(
    conn: &mut PgConnection,
    rows: &[TokenRevocation],
) -> Result<(), sqlx::Error> {
    for row in rows {
        sqlx::query(
            "INSERT INTO token_revocations AS r (token_digest, revoked_at, event_id)
             VALUES ($1, $2, $3)
             ON CONFLICT (token_digest) DO UPDATE SET
                revoked_at = EXCLUDED.revoked_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.revoked_at, EXCLUDED.event_id) < (r.revoked_at, r.event_id)",
        )
        .bind(&row.token_digest)
        .bind(row.revoked_at)
        .bind(row.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
