//! The queries behind the exports (`GET /v1/exports/{kind}` and the old `/analytics/export`):
//! each selects its rows with the same filters as the matching list, in a stable order, with
//! the columns [`crate::export`] writes.

use sqlx::{Postgres, QueryBuilder};

use super::contacts::{self, Filter as ContactFilter};
use super::conversations::{self, Filter as ConversationFilter};
use super::days::{CONVERSATIONS_ZONED, LocalDays, Zone, ZoneOf, push_local};
use super::populations::OUTCOME;

/// An export's query and the columns written from its rows, in order.
pub struct Export {
    pub query: QueryBuilder<'static, Postgres>,
    pub columns: &'static [&'static str],
}

const CONVERSATION_COLUMNS: &[&str] = &[
    "website_id",
    "conversation_id",
    "status",
    "channel",
    "device",
    "country",
    "language",
    "detected_language",
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
    "close_reason",
    "bot_first_response_ms",
    "agent_first_response_ms",
    "handoff_at",
    "handoff_reason",
    "handoff_response_ms",
    "resolution_ms",
    "reopens",
    "unanswered",
    "outcome",
    "priority",
    "rating_comment",
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
    "lead_score",
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

/// Appends `, ({instant} AT TIME ZONE …) AS {name}_local` for each `(name, instant)`: the
/// wall-clock time of the row's website (or the request's zone), which an Excel export writes
/// for the column `name`; the other formats write `name` itself, in UTC.
fn push_locals(
    q: &mut QueryBuilder<'static, Postgres>,
    times: &[(&str, &str)],
    zone: &Zone,
    of: ZoneOf<'_>,
) {
    for (name, instant) in times {
        q.push(", ");
        push_local(q, instant, zone, of);
        q.push(format!(" AS {name}_local"));
    }
}

/// The conversations `filter` keeps, oldest first.
pub fn conversations(filter: &ConversationFilter) -> Export {
    let mut query = QueryBuilder::new(
        "SELECT c.website_id, c.conversation_id, c.status, c.channel, c.device, c.country,
                c.language, c.detected_language, c.first_seen_at AS started_at, c.last_activity_at,
                EXTRACT(EPOCH FROM c.last_activity_at - c.first_seen_at)::float8 AS duration_s,
                c.message_count, c.user_messages, c.bot_messages, c.agent_messages,
                c.first_response_ms,
                c.bot_response_ms_sum::float8 / NULLIF(c.bot_responses, 0) AS avg_bot_response_ms,
                c.requires_human, c.cta_clicks, c.rating, c.contact_id, c.closed_at,
                c.close_reason, c.bot_first_response_ms, c.agent_first_response_ms,
                c.handoff_at, c.handoff_reason, c.handoff_response_ms, c.resolution_ms,
                c.reopens, c.unanswered, ",
    );
    query.push(OUTCOME);
    query.push(format!(
        " AS outcome, {} AS priority, c.rating_comment",
        &*conversations::PRIORITY_NAME
    ));
    push_locals(
        &mut query,
        &[
            ("started_at", "c.first_seen_at"),
            ("last_activity_at", "c.last_activity_at"),
            ("closed_at", "c.closed_at"),
            ("handoff_at", "c.handoff_at"),
        ],
        &filter.zone,
        ZoneOf::Joined,
    );
    query.push(" FROM ");
    query.push(CONVERSATIONS_ZONED);
    conversations::push_filter(&mut query, filter);
    query.push(" ORDER BY c.first_seen_at, c.website_id, c.conversation_id");
    Export {
        query,
        columns: CONVERSATION_COLUMNS,
    }
}

/// The messages of the conversations `filter` keeps, by conversation and time.
pub fn messages(filter: &ConversationFilter) -> Export {
    let mut query = QueryBuilder::new(
        "SELECT m.website_id, m.conversation_id, m.event_id AS id, m.message_id,
                m.sender, m.text, m.sent_at, m.response_time_ms, m.confidence_score,
                m.requires_human, m.human_replied",
    );
    push_locals(
        &mut query,
        &[("sent_at", "m.sent_at")],
        &filter.zone,
        ZoneOf::Lookup("m"),
    );
    query.push(" FROM messages m JOIN (SELECT c.website_id, c.conversation_id FROM ");
    query.push(CONVERSATIONS_ZONED);
    conversations::push_filter(&mut query, filter);
    query.push(
        ") c USING (website_id, conversation_id)
         ORDER BY m.website_id, m.conversation_id, m.sent_at, m.event_id",
    );
    Export {
        query,
        columns: MESSAGE_COLUMNS,
    }
}

/// The contacts `filter` keeps, oldest first.
pub fn contacts(filter: &ContactFilter) -> Export {
    let mut query = QueryBuilder::new(format!(
        "SELECT contacts.website_id, contacts.contact_id, name, email, phone,
                channel, first_seen_at, last_activity_at, conversation_count,
                request_count, lead_status, {} AS lead_score, notes",
        contacts::LEAD_SCORE,
    ));
    push_locals(
        &mut query,
        &[
            ("first_seen_at", "contacts.first_seen_at"),
            ("last_activity_at", "contacts.last_activity_at"),
        ],
        &filter.zone,
        ZoneOf::Lookup("contacts"),
    );
    query.push(format!(" FROM {}", &*contacts::SCORED));
    contacts::push_filter(&mut query, filter);
    query.push(" ORDER BY first_seen_at, contacts.website_id, contacts.contact_id");
    Export {
        query,
        columns: CONTACT_COLUMNS,
    }
}

const REQUEST_COLUMNS: &[&str] = &[
    "website_id",
    "request_id",
    "conversation_id",
    "contact_id",
    "name",
    "email",
    "phone",
    "message",
    "status",
    "notes",
    "created_at",
    "contacted_at",
    "resolved_at",
];

/// The contact requests of `websites` (all when `None`), of one `status` if named, oldest
/// first.
pub fn requests(websites: Option<&[String]>, status: Option<&str>) -> Export {
    let mut query = QueryBuilder::new(
        "SELECT website_id, request_id, conversation_id, contact_id, name, email, phone,
                message, status, notes, created_at, contacted_at, resolved_at",
    );
    push_locals(
        &mut query,
        &[
            ("created_at", "created_at"),
            ("contacted_at", "contacted_at"),
            ("resolved_at", "resolved_at"),
        ],
        &Zone::default(),
        ZoneOf::Lookup("contact_requests"),
    );
    query.push(" FROM contact_requests WHERE true");
    if let Some(w) = websites {
        super::push_websites(&mut query, "website_id", w);
    }
    if let Some(s) = status {
        query.push(" AND status = ").push_bind(s.to_owned());
    }
    query.push(" ORDER BY created_at, website_id, request_id");
    Export {
        query,
        columns: REQUEST_COLUMNS,
    }
}

/// Which events an event export holds.
pub struct Events {
    /// The websites to read; all when `None`.
    pub websites: Option<Vec<String>>,
    pub days: LocalDays,
    /// The zone the days are in, each website's own when unset.
    pub zone: Zone,
    pub event_type: Option<String>,
}

/// The events `which` selects, oldest first; never `token.created` (it names a token digest).
pub fn events(which: Events) -> Export {
    let mut query = QueryBuilder::new(
        "SELECT event_id, type, website_id, conversation_id,
                payload->>'customer_id' AS customer_id, occurred_at, received_at,
                payload::text AS payload",
    );
    push_locals(
        &mut query,
        &[
            ("occurred_at", "occurred_at"),
            ("received_at", "received_at"),
        ],
        &which.zone,
        ZoneOf::Lookup("event_log"),
    );
    query.push(" FROM event_log WHERE type <> 'token.created'");
    which.days.push(
        &mut query,
        "occurred_at",
        &which.zone,
        ZoneOf::Lookup("event_log"),
    );
    if let Some(w) = &which.websites {
        super::push_websites(&mut query, "website_id", w);
    }
    if let Some(t) = which.event_type {
        query.push(" AND type = ").push_bind(t);
    }
    query.push(" ORDER BY occurred_at, event_id");
    Export {
        query,
        columns: EVENT_COLUMNS,
    }
}

/// The columns of the old raw-event export (`/analytics/export`).
const LEGACY_EVENT_COLUMNS: &[&str] = &[
    "event_id",
    "user_id",
    "session_id",
    "event_type",
    "timestamp",
    "message",
];

/// What visitors did on `websites` (all when `None`) in `days`, each website's own, in the old
/// export's columns; admin actions are not analytics.
pub fn legacy_events(websites: Option<&[String]>, days: LocalDays) -> Export {
    let mut query = QueryBuilder::new(
        "SELECT event_id, payload->>'customer_id' AS user_id, conversation_id AS session_id,
            CASE type WHEN 'message.sent' THEN 'message'
                      WHEN 'cta.clicked' THEN 'cta_click' ELSE type END AS event_type,
            occurred_at AS timestamp,
            COALESCE(payload->>'text', payload->>'label', payload->>'message') AS message",
    );
    push_locals(
        &mut query,
        &[("timestamp", "occurred_at")],
        &Zone::default(),
        ZoneOf::Lookup("event_log"),
    );
    query.push(" FROM event_log WHERE true");
    days.push(
        &mut query,
        "occurred_at",
        &Zone::default(),
        ZoneOf::Lookup("event_log"),
    );
    if let Some(w) = websites {
        super::push_websites(&mut query, "website_id", w);
    }
    let client_types: Vec<&str> = schemas::EventType::ALL
        .iter()
        .filter(|t| t.producer() == schemas::Producer::Client)
        .map(|t| t.name())
        .collect();
    query
        .push(" AND type = ANY(")
        .push_bind(client_types)
        .push(")");
    query.push(" ORDER BY occurred_at, event_id");
    Export {
        query,
        columns: LEGACY_EVENT_COLUMNS,
    }
}
