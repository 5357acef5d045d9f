//! Enrichment: what the server adds to a client's event before it is stored.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use schemas::envelope::as_stored;
use schemas::{Consent, Context, Event, IncomingEvent, Payload};
use uuid::Uuid;

use crate::device::device_type;
use crate::privacy;

/// What the server knows about the request an event came in.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// From the write key.
    pub website_id: String,
    pub received_at: DateTime<Utc>,
    /// From the connection; a body cannot set it.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, used when the event's context has none.
    pub user_agent: Option<String>,
    /// The request came from a browser (it carried an `Origin` header).
    pub from_browser: bool,
    /// The website stores anonymised addresses only.
    pub anonymize_ip: bool,
    /// The country of a browser's address, looked up before it is anonymised; none for
    /// requests not from a browser (a server's address is not its visitor's) and for websites
    /// that do not record countries.
    pub country: Option<String>,
    /// The browser sent Do Not Track or Global Privacy Control.
    pub opted_out: bool,
    /// The salt of the day the request was received, for [`privacy::visitor_hash`].
    pub visitor_salt: [u8; 32],
    /// How far back a client may date an event (`INGEST_MAX_EVENT_AGE_S`).
    pub max_event_age: chrono::Duration,
}

/// Client timestamps further ahead than this are not believed.
const MAX_FUTURE: chrono::Duration = chrono::Duration::hours(23);

/// When the event happened by the server's clock. When the client said when it sent the
/// request (`sent_at`), its clock's offset is `sent_at - received_at`, and the event time is
/// corrected by it. A time more than 23 hours ahead of the server, or more than `max_age`
/// before it (a clock that was never set, or a client dating events back to take over what
/// others submitted), is clamped to the receive time.
pub fn occurred_at(
    timestamp: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    max_age: chrono::Duration,
) -> DateTime<Utc> {
    let Some(timestamp) = timestamp else {
        return received_at;
    };
    let corrected = match sent_at {
        Some(sent_at) => timestamp.checked_sub_signed(sent_at - received_at),
        None => Some(timestamp),
    };
    match corrected {
        Some(t) if t >= earliest(received_at, max_age) && t <= received_at + MAX_FUTURE => t,
        _ => received_at,
    }
}

/// The earliest time an event received at `received_at` may be dated: `max_age` before it,
/// and never before 1970 (Postgres stores no time before 4713 BC, which a clock correction
/// could otherwise reach).
fn earliest(received_at: DateTime<Utc>, max_age: chrono::Duration) -> DateTime<Utc> {
    received_at
        .checked_sub_signed(max_age)
        .map_or(DateTime::UNIX_EPOCH, |t| t.max(DateTime::UNIX_EPOCH))
}

/// Completes a client's event into the record written to the topic.
pub fn enrich(
    incoming: IncomingEvent,
    sent_at: Option<DateTime<Utc>>,
    request: &RequestContext,
) -> Event {
    // UUIDv7 sorts by time, which keeps the event log's index append-mostly.
    let event_id = incoming.event_id.unwrap_or_else(Uuid::now_v7);
    let context = incoming.context;
    let user_agent = context.user_agent.or_else(|| request.user_agent.clone());
    let device = context.device.or_else(|| {
        user_agent
            .as_deref()
            .and_then(device_type)
            .map(str::to_owned)
    });
    let channel = context
        .channel
        .unwrap_or_else(|| if request.from_browser { "frame" } else { "api" }.to_owned());
    // A customer id names the person on any device; else only a browser's address is its
    // visitor's (a server sending for many visitors would make them all one).
    let customer = match &incoming.payload {
        Payload::WidgetLoaded(p) => p.customer_id.as_deref(),
        Payload::ConversationStarted(p) => p.customer_id.as_deref(),
        Payload::MessageSent(p) => p.customer_id.as_deref(),
        Payload::CtaClicked(p) => p.customer_id.as_deref(),
        Payload::ContactIdentified(p) => p.customer_id.as_deref(),
        _ => None,
    };
    let visitor = match customer {
        Some(c) => Some(privacy::customer_hash(
            &request.visitor_salt,
            &request.website_id,
            c,
        )),
        None => request.ip.filter(|_| request.from_browser).map(|ip| {
            privacy::visitor_hash(
                &request.visitor_salt,
                &request.website_id,
                ip,
                user_agent.as_deref(),
            )
        }),
    };
    let ip = match request.ip {
        Some(ip) if request.anonymize_ip => Some(privacy::anonymize(ip)),
        other => other,
    };
    let consent = if request.opted_out {
        Some(Consent::Denied)
    } else {
        context.consent
    };
    let mut event = Event {
        event_id,
        schema_version: incoming.payload.event_type().current_version(),
        website_id: request.website_id.clone(),
        conversation_id: incoming.conversation_id,
        occurred_at: as_stored(occurred_at(
            incoming.occurred_at,
            sent_at,
            request.received_at,
            request.max_event_age,
        )),
        received_at: as_stored(request.received_at),
        context: Context {
            ip,
            user_agent,
            device,
            channel,
            language: context.language,
            country: request.country.clone(),
            page_url: context.page_url,
            environment: context.environment,
            metadata: context.metadata,
            consent,
            visitor,
            // Written beside the personal fields when they are sealed.
            pseudonyms: Default::default(),
            // Only admin events name an acting token.
            actor: None,
        },
        payload: with_request_id(incoming.payload, event_id),
    };
    if consent == Some(Consent::Denied) {
        privacy::strip_identifiers(&mut event);
    }
    event
}

/// A contact request without a client-chosen id is identified by its event id, so the id
/// ingest answers with is the one admins later see.
fn with_request_id(payload: Payload, event_id: Uuid) -> Payload {
    match payload {
        Payload::ContactSubmitted(mut c) if c.request_id.is_none() => {
            c.request_id = Some(event_id.to_string());
            Payload::ContactSubmitted(c)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> RequestContext {
        RequestContext {
            website_id: "demo".into(),
            received_at: Utc::now(),
            ip: Some("203.0.113.7".parse().unwrap()),
            user_agent: Some("curl/8".into()),
            from_browser: false,
            anonymize_ip: false,
            country: None,
            opted_out: false,
            visitor_salt: [7; 32],
            max_event_age: ALL_TIME,
        }
    }

    fn incoming(value: serde_json::Value) -> IncomingEvent {
        IncomingEvent::parse(value).unwrap()
    }

    fn enrich_now(event: IncomingEvent, request: &RequestContext) -> Event {
        enrich(event, None, request)
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn without_a_timestamp_the_event_happened_when_it_was_received() {
        assert_eq!(
            occurred_at(None, None, t("2026-11-20T10:00:00Z"), ALL_TIME),
            t("2026-11-20T10:00:00Z")
        );
    }

    #[test]
    fn a_client_clock_five_minutes_fast_is_corrected() {
        let got = occurred_at(
            Some(t("2026-11-20T10:04:00Z")),
            Some(t("2026-11-20T10:05:00Z")),
            t("2026-11-20T10:00:00Z"),
            ALL_TIME,
        );
        assert_eq!(got, t("2026-11-20T09:59:00Z"));
    }

    /// An age bound past any time a test uses.
    const ALL_TIME: chrono::Duration = chrono::Duration::days(365 * 200);

    #[test]
    fn a_time_further_back_than_the_age_bound_is_clamped_to_now() {
        let now = t("2026-11-20T10:00:00Z");
        let week = chrono::Duration::days(7);
        assert_eq!(
            occurred_at(Some(t("2026-11-13T10:00:00Z")), None, now, week),
            t("2026-11-13T10:00:00Z")
        );
        assert_eq!(
            occurred_at(Some(t("2026-11-13T09:59:59Z")), None, now, week),
            now
        );
        assert_eq!(
            occurred_at(Some(t("1970-01-01T00:00:00Z")), None, now, week),
            now
        );
        // However large the bound, never before 1970.
        let forever = chrono::Duration::MAX;
        assert_eq!(
            occurred_at(Some(t("1969-12-31T23:59:59Z")), None, now, forever),
            now
        );
    }

    #[test]
    fn a_timestamp_more_than_23_hours_ahead_is_clamped_to_now() {
        let now = t("2026-11-20T10:00:00Z");
        assert_eq!(
            occurred_at(Some(t("2026-11-21T08:59:00Z")), None, now, ALL_TIME),
            t("2026-11-21T08:59:00Z")
        );
        assert_eq!(
            occurred_at(Some(t("2026-11-21T09:01:00Z")), None, now, ALL_TIME),
            now
        );
    }

    /// Found by Schemathesis: year 1 corrected by a `sent_at` in year 9999 is before 4713 BC,
    /// which Postgres refused, and the projector retried that batch forever.
    #[test]
    fn a_time_before_1970_or_past_any_calendar_is_clamped_to_now() {
        let now = t("2026-11-20T10:00:00Z");
        assert_eq!(
            occurred_at(
                Some(t("0001-01-01T00:00:00Z")),
                Some(t("9999-12-31T00:00:00Z")),
                now,
                ALL_TIME
            ),
            now
        );
        assert_eq!(
            occurred_at(Some(t("1969-12-31T23:59:59Z")), None, now, ALL_TIME),
            now
        );
        assert_eq!(
            occurred_at(Some(t("1970-01-01T00:00:00Z")), None, now, ALL_TIME),
            t("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            occurred_at(
                Some(DateTime::<Utc>::MIN_UTC),
                Some(DateTime::<Utc>::MAX_UTC),
                now,
                ALL_TIME
            ),
            now
        );
    }

    #[test]
    fn an_event_without_an_id_gets_a_fresh_uuid_v7() {
        let event = enrich_now(
            incoming(json!({"type": "widget.loaded", "conversation_id": "c"})),
            &request(),
        );
        assert_eq!(event.event_id.get_version_num(), 7);
    }

    #[test]
    fn a_client_event_id_is_kept_for_idempotent_retries() {
        let id = Uuid::new_v4();
        let event = enrich_now(
            incoming(json!({"type": "widget.loaded", "conversation_id": "c", "event_id": id})),
            &request(),
        );
        assert_eq!(event.event_id, id);
    }

    #[test]
    fn the_website_ip_and_receive_time_come_from_the_request() {
        let req = request();
        let event = enrich_now(
            incoming(json!({"type": "widget.loaded", "conversation_id": "c"})),
            &req,
        );
        assert_eq!(event.website_id, "demo");
        assert_eq!(event.context.ip, req.ip);
        // To the microsecond Postgres keeps, so that readers get what ingest wrote.
        let received = chrono::SubsecRound::trunc_subsecs(req.received_at, 6);
        assert_eq!((event.received_at, event.occurred_at), (received, received));
    }

    #[test]
    fn the_channel_defaults_to_frame_for_browsers_and_api_otherwise() {
        let mut req = request();
        let e = || incoming(json!({"type": "widget.loaded", "conversation_id": "c"}));
        assert_eq!(enrich_now(e(), &req).context.channel, "api");
        req.from_browser = true;
        assert_eq!(enrich_now(e(), &req).context.channel, "frame");
    }

    #[test]
    fn the_device_comes_from_the_user_agent_unless_the_client_names_it() {
        let mut req = request();
        req.user_agent =
            Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into());
        let e = |device: Option<&str>| {
            let mut v = json!({"type": "widget.loaded", "conversation_id": "c"});
            if let Some(d) = device {
                v["context"] = json!({"device": d});
            }
            incoming(v)
        };
        assert_eq!(
            enrich_now(e(None), &req).context.device.as_deref(),
            Some("bot")
        );
        assert_eq!(
            enrich_now(e(Some("tablet")), &req)
                .context
                .device
                .as_deref(),
            Some("tablet")
        );
    }

    #[test]
    fn a_user_agent_in_the_context_wins_over_the_header() {
        let event = enrich_now(
            incoming(json!({"type": "widget.loaded", "conversation_id": "c",
                            "context": {"user_agent": "Mozilla/5.0"}})),
            &request(),
        );
        assert_eq!(event.context.user_agent.as_deref(), Some("Mozilla/5.0"));
    }

    #[test]
    fn a_website_that_anonymises_gets_the_network_not_the_address() {
        let mut r = request();
        r.anonymize_ip = true;
        let e = enrich_now(
            incoming(json!({"type": "widget.loaded", "conversation_id": "c1"})),
            &r,
        );
        assert_eq!(e.context.ip, Some("203.0.113.0".parse().unwrap()));
    }

    #[test]
    fn an_opted_out_visitor_is_counted_without_identifiers_but_keeps_the_message() {
        let mut r = request();
        r.from_browser = true;
        let value = json!({"type": "message.sent", "conversation_id": "c1",
            "context": {"page_url": "https://shop.example/p?email=a@b.example#x",
                        "metadata": {"plan": "pro"}, "consent": "denied"},
            "payload": {"sender": "user", "text": "hi", "customer_id": "cust-9"}});
        for (by_header, value) in [
            (false, value.clone()),
            (true, {
                let mut v = value.clone();
                v["context"].as_object_mut().unwrap().remove("consent");
                v
            }),
        ] {
            r.opted_out = by_header;
            let e = enrich_now(incoming(value), &r);
            assert_eq!(e.context.consent, Some(Consent::Denied));
            assert_eq!(
                (e.context.ip, e.context.user_agent.as_deref()),
                (None, None)
            );
            assert_eq!(e.context.visitor, None);
            assert!(e.context.metadata.is_empty());
            assert_eq!(
                e.context.page_url.as_deref(),
                Some("https://shop.example/p")
            );
            let Payload::MessageSent(m) = &e.payload else {
                panic!()
            };
            assert_eq!((m.customer_id.as_deref(), m.text.as_str()), (None, "hi"));
        }
    }

    #[test]
    fn a_browser_visitor_gets_a_salted_hash_and_a_server_side_client_none() {
        let mut r = request();
        let load = || incoming(json!({"type": "widget.loaded", "conversation_id": "c1"}));
        assert_eq!(enrich_now(load(), &r).context.visitor, None);
        r.from_browser = true;
        let first = enrich_now(load(), &r).context.visitor.unwrap();
        assert_eq!(enrich_now(load(), &r).context.visitor.unwrap(), first);
        r.anonymize_ip = true;
        assert_eq!(
            enrich_now(load(), &r).context.visitor.unwrap(),
            first,
            "hashed from the address as received, before anonymising"
        );
        r.visitor_salt = [8; 32];
        assert_ne!(enrich_now(load(), &r).context.visitor.unwrap(), first);
    }

    #[test]
    fn a_named_customer_is_one_visitor_from_any_address_or_server() {
        let mut r = request();
        let named = || {
            incoming(json!({"type": "widget.loaded", "conversation_id": "c1",
                            "payload": {"customer_id": "cust-9"}}))
        };
        let from_server = enrich_now(named(), &r).context.visitor.unwrap();
        r.from_browser = true;
        r.ip = Some("198.51.100.4".parse().unwrap());
        assert_eq!(
            enrich_now(named(), &r).context.visitor.unwrap(),
            from_server
        );
        assert!(!from_server.contains("cust-9"));
    }
}
