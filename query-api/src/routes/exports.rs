//! `GET /v1/exports/{conversations|messages|contacts|events}?format=csv|json|ndjson&…`: the
//! same filters as the lists, streamed (see [`crate::export`]).

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sqlx::{Postgres, QueryBuilder};

use super::params::{Days, check_tz};
use super::{contacts, conversations};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::export::{self, Format};
use crate::store::contacts as contact_store;
use crate::store::conversations as conversation_store;
use crate::store::days::{CONVERSATIONS_ZONED, LocalDays, Zone, ZoneOf};

/// Splits `format` off the query string and parses the rest as the list's own parameters, so
/// an export accepts exactly the filters its list does.
fn parse<T: DeserializeOwned>(uri: &Uri) -> Result<(Format, T), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let mut format = None;
    let mut rest = Vec::new();
    for (k, v) in pairs {
        if k == "format" {
            format = Some(v);
        } else {
            rest.push((k, v));
        }
    }
    let format = Format::parse(format.as_deref())?;
    let rest = serde_urlencoded::to_string(&rest)
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let params = serde_urlencoded::from_str(&rest)
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    Ok((format, params))
}

const CONVERSATION_COLUMNS: &[&str] = &[
    "website_id",
    "conversation_id",
    "status",
    "channel",
    "device",
    "started_at",
    "last_activity_at",
    "duration_s",
    "message_count",
    "user_messages",
    "bot_messages",
    "agent_messages",
    "first_response_ms",
    "avg_bot_response_ms",
    "requires_human",
    "cta_clicks",
    "rating",
    "contact_id",
    "closed_at",
];

const MESSAGE_COLUMNS: &[&str] = &[
    "website_id",
    "conversation_id",
    "id",
    "message_id",
    "sender",
    "text",
    "sent_at",
    "response_time_ms",
    "confidence_score",
    "requires_human",
    "human_replied",
];

const CONTACT_COLUMNS: &[&str] = &[
    "website_id",
    "contact_id",
    "name",
    "email",
    "phone",
    "channel",
    "first_seen_at",
    "last_activity_at",
    "conversation_count",
    "request_count",
    "lead_status",
    "notes",
];

const EVENT_COLUMNS: &[&str] = &[
    "event_id",
    "type",
    "website_id",
    "conversation_id",
    "customer_id",
    "occurred_at",
    "received_at",
    "payload",
];

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    website_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// First day (`YYYY-MM-DD`) in the website's time zone (or `tz`).
    #[schemars(with = "Option<chrono::NaiveDate>")]
    from: Option<String>,
    #[schemars(with = "Option<chrono::NaiveDate>")]
    to: Option<String>,
    /// An IANA time zone whose days `from` and `to` are, instead of each website's own.
    tz: Option<String>,
}

pub async fn export(
    admin: Admin,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (format, query, columns): (Format, QueryBuilder<'static, Postgres>, _) = match kind.as_str()
    {
        "conversations" => {
            let (format, params): (_, conversations::ListParams) = parse(&uri)?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            let filter = params.filter(&admin.scope)?;
            let mut q = QueryBuilder::new(
                    "SELECT c.website_id, c.conversation_id, c.status, c.channel, c.device,
                            c.first_seen_at AS started_at, c.last_activity_at,
                            EXTRACT(EPOCH FROM c.last_activity_at - c.first_seen_at)::float8 AS duration_s,
                            c.message_count, c.user_messages, c.bot_messages, c.agent_messages,
                            c.first_response_ms,
                            c.bot_response_ms_sum::float8 / NULLIF(c.bot_responses, 0) AS avg_bot_response_ms,
                            c.requires_human, c.cta_clicks, c.rating, c.contact_id, c.closed_at
                        FROM ",
                );
            q.push(CONVERSATIONS_ZONED);
            conversation_store::push_filter(&mut q, &filter);
            q.push(" ORDER BY c.first_seen_at, c.website_id, c.conversation_id");
            (format, q, CONVERSATION_COLUMNS)
        }
        "messages" => {
            let (format, params): (_, conversations::ListParams) = parse(&uri)?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            let filter = params.filter(&admin.scope)?;
            let mut q = QueryBuilder::new(
                "SELECT m.website_id, m.conversation_id, m.event_id AS id, m.message_id,
                            m.sender, m.text, m.sent_at, m.response_time_ms, m.confidence_score,
                            m.requires_human, m.human_replied
                        FROM messages m JOIN (SELECT c.website_id, c.conversation_id FROM ",
            );
            q.push(CONVERSATIONS_ZONED);
            conversation_store::push_filter(&mut q, &filter);
            q.push(
                ") c USING (website_id, conversation_id)
                     ORDER BY m.website_id, m.conversation_id, m.sent_at, m.event_id",
            );
            (format, q, MESSAGE_COLUMNS)
        }
        "contacts" => {
            let (format, params): (_, contacts::ListParams) = parse(&uri)?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            let filter = params.filter(&admin.scope)?;
            let mut q = QueryBuilder::new(
                "SELECT website_id, contact_id, name, email, phone,
                        channel, first_seen_at, last_activity_at, conversation_count,
                        request_count, lead_status, notes FROM contacts",
            );
            contact_store::push_filter(&mut q, &filter);
            q.push(" ORDER BY first_seen_at, website_id, contact_id");
            (format, q, CONTACT_COLUMNS)
        }
        "events" => {
            let (format, params): (_, EventParams) = parse(&uri)?;
            let websites = admin.scope.narrow(params.website_id.as_deref())?;
            check_tz(&state.pool, params.tz.as_deref()).await?;
            let days = Days::parse(params.from.as_deref(), params.to.as_deref(), 3_650)?;
            let mut q = QueryBuilder::new(
                "SELECT event_id, type, website_id, conversation_id,
                        payload->>'customer_id' AS customer_id, occurred_at, received_at,
                        payload::text AS payload
                     FROM event_log WHERE type <> 'token.created'",
            );
            LocalDays::Between(days.from, days.to).push(
                &mut q,
                "occurred_at",
                &Zone(params.tz),
                ZoneOf::Lookup("event_log"),
            );
            if let Some(w) = websites {
                crate::store::push_websites(&mut q, "website_id", &w);
            }
            if let Some(t) = params.event_type {
                q.push(" AND type = ").push_bind(t);
            }
            q.push(" ORDER BY occurred_at, event_id");
            (format, q, EVENT_COLUMNS)
        }
        _ => return Err(ApiError::NotFound("export")),
    };
    export::respond(&state, &admin, format, &kind, columns, query).await
}
