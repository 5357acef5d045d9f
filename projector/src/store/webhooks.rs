//! Webhook endpoints (a read model) and the outbox (`colloquy.webhook_deliveries`), which the
//! live projector fills in the transaction that applies the events it decides from.
//!
//! Exactly once: only events applied for the first time are looked at (the event log filters
//! re-reads), the decision and the batch commit together, and a delivery's id is a name-based
//! UUID of its endpoint, kind and cause, inserted with `ON CONFLICT DO NOTHING`. A rebuild does
//! not call [`enqueue`]: history is not sent again. What a delivery says is read from the read
//! models when it is sent (query-api's dispatcher), so erasure and retention reach it; erasing
//! a contact also drops what is still waiting about them (docs/webhooks.md).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::projections::contact_requests::own_request_id;
use crate::projections::webhooks::{EndpointChange, Trigger, What};

/// Tells query-api's dispatchers to look now rather than at their next poll (delivered when
/// the batch commits, [`runtime::wakeup::WEBHOOKS`]).
async fn wake_dispatchers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    runtime::wakeup::notify(conn, runtime::wakeup::WEBHOOKS, "").await
}

/// The latest `(changed_at, event_id)` wins; the earliest change's time is when it was
/// registered. Any order converges.
pub async fn upsert_endpoints(
    conn: &mut PgConnection,
    rows: &[EndpointChange],
) -> Result<(), sqlx::Error> {
    for e in rows {
        sqlx::query(
            "INSERT INTO webhook_endpoints AS w (endpoint_id, website_id, url, kinds, channel,
                 description, enabled, deleted, created_at, changed_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
             ON CONFLICT (endpoint_id) DO UPDATE SET
                website_id = EXCLUDED.website_id, url = EXCLUDED.url, kinds = EXCLUDED.kinds,
                channel = EXCLUDED.channel, description = EXCLUDED.description,
                enabled = EXCLUDED.enabled, deleted = EXCLUDED.deleted,
                changed_at = EXCLUDED.changed_at, event_id = EXCLUDED.event_id
             WHERE (EXCLUDED.changed_at, EXCLUDED.event_id) > (w.changed_at, w.event_id)",
        )
        .bind(e.endpoint_id)
        .bind(&e.website_id)
        .bind(&e.url)
        .bind(&e.kinds)
        .bind(&e.channel)
        .bind(&e.description)
        .bind(e.enabled)
        .bind(e.deleted)
        .bind(e.changed_at)
        .bind(e.event_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET created_at = $2
             WHERE endpoint_id = $1 AND created_at > $2",
        )
        .bind(e.endpoint_id)
        .bind(e.changed_at)
        .execute(&mut *conn)
        .await?;
    }
    if !rows.is_empty() {
        // Enabled again or deleted: what waits for the endpoint moves on now.
        wake_dispatchers(conn).await?;
    }
    Ok(())
}

/// The namespace of delivery ids.
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x6c0f_3c51_1a2e_4d7e_9a51_7f3b_0c2d_8e41);

/// An endpoint that is not deleted.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Endpoint {
    endpoint_id: Uuid,
    website_id: String,
    kinds: Vec<String>,
    channel: Option<String>,
    enabled: bool,
}

impl Endpoint {
    /// Whether it is enabled and subscribed to `kind` on `website_id`, whatever the channel.
    fn subscribes(&self, website_id: &str, kind: &str) -> bool {
        self.enabled && self.website_id == website_id && self.kinds.iter().any(|k| k == kind)
    }

    fn wants(&self, website_id: &str, kind: &str, channel: Option<&str>) -> bool {
        self.subscribes(website_id, kind)
            && self.channel.as_deref().is_none_or(|c| Some(c) == channel)
    }
}

/// A decided delivery.
#[derive(Debug, Clone)]
struct NewDelivery {
    delivery_id: Uuid,
    endpoint_id: Uuid,
    website_id: String,
    kind: &'static str,
    order_key: String,
    event_id: Uuid,
    occurred_at: DateTime<Utc>,
    subject: Value,
}

/// What [`enqueue`] decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enqueued {
    pub deliveries: u64,
    /// Waiting deliveries dropped because the contact they are about was erased.
    pub dropped: u64,
}

/// Decides the deliveries `triggers` (the batch's new events) make and writes them to the
/// outbox. Call it in the batch's transaction, after the derived read models are written (it
/// reads contacts, requests and conversations as the batch left them).
pub async fn enqueue(
    conn: &mut PgConnection,
    triggers: &[Trigger],
) -> Result<Enqueued, sqlx::Error> {
    if triggers.is_empty() {
        return Ok(Enqueued::default());
    }
    let websites: Vec<&str> = triggers
        .iter()
        .map(|t| t.website_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let endpoints: Vec<Endpoint> = sqlx::query_as(
        "SELECT endpoint_id, website_id, kinds, channel, enabled FROM webhook_endpoints
         WHERE website_id = ANY($1) AND NOT deleted",
    )
    .bind(&websites)
    .fetch_all(&mut *conn)
    .await?;
    if endpoints.is_empty() {
        return Ok(Enqueued::default());
    }
    let mut out = Vec::new();
    let mut dropped = 0;
    submissions(conn, triggers, &endpoints, &mut out).await?;
    contact_changes(conn, triggers, &endpoints, &mut out).await?;
    request_moves(conn, triggers, &endpoints, &mut out).await?;
    conversation_events(conn, triggers, &endpoints, &mut out).await?;
    for t in triggers {
        if let What::ContactErased { contact_id } = &t.what {
            dropped += erasure(conn, t, contact_id, &endpoints, &mut out).await?;
        }
    }
    let deliveries = insert(conn, &out).await?;
    if deliveries > 0 {
        wake_dispatchers(conn).await?;
    }
    Ok(Enqueued {
        deliveries,
        dropped,
    })
}

/// A message decided, before the endpoints it goes to.
struct Message<'a> {
    trigger: &'a Trigger,
    kind: &'static str,
    /// What makes it one message: its event, or for a hand-off the conversation.
    cause: String,
    /// Whose deliveries it waits behind: a contact's or a conversation's.
    order_key: String,
    /// The ids it is about.
    subject: Value,
}

impl<'a> Message<'a> {
    /// About a contact, caused by the trigger's event.
    fn about_contact(
        trigger: &'a Trigger,
        kind: &'static str,
        contact: &str,
        subject: Value,
    ) -> Self {
        Self {
            trigger,
            kind,
            cause: trigger.event_id.to_string(),
            order_key: format!("contact:{contact}"),
            subject,
        }
    }

    /// About a request: behind its contact's deliveries when it has one.
    fn about_request(
        trigger: &'a Trigger,
        kind: &'static str,
        request_id: &str,
        conversation_id: &str,
        contact: Option<&str>,
    ) -> Self {
        let subject = json!({
            "request_id": request_id, "conversation_id": conversation_id, "contact_id": contact,
        });
        Self {
            trigger,
            kind,
            cause: trigger.event_id.to_string(),
            order_key: contact.map_or_else(
                || format!("request:{request_id}"),
                |c| format!("contact:{c}"),
            ),
            subject,
        }
    }

    fn to(&self, endpoint: &Endpoint) -> NewDelivery {
        NewDelivery {
            delivery_id: Uuid::new_v5(
                &DELIVERY_NAMESPACE,
                format!("{}/{}/{}", endpoint.endpoint_id, self.kind, self.cause).as_bytes(),
            ),
            endpoint_id: endpoint.endpoint_id,
            website_id: self.trigger.website_id.clone(),
            kind: self.kind,
            order_key: self.order_key.clone(),
            event_id: self.trigger.event_id,
            occurred_at: self.trigger.occurred_at,
            subject: self.subject.clone(),
        }
    }

    /// A delivery to every endpoint subscribed to it on `channel`.
    fn to_subscribers(
        &self,
        endpoints: &[Endpoint],
        channel: Option<&str>,
        out: &mut Vec<NewDelivery>,
    ) {
        let website = &self.trigger.website_id;
        for e in endpoints
            .iter()
            .filter(|e| e.wants(website, self.kind, channel))
        {
            out.push(self.to(e));
        }
    }
}

/// A contact form as the read models have it after the batch.
#[derive(Debug, sqlx::FromRow)]
struct Submission {
    event_id: Uuid,
    /// Its contact; none when it named no e-mail or phone.
    contact_id: Option<String>,
    contact_channel: Option<String>,
    /// The contact exists and is not erased.
    live: bool,
    /// No submission or edit of the contact came before this batch.
    new: bool,
    /// The conversation's.
    channel: Option<String>,
    conversation_id: String,
    /// The id its request is stored under: the one it named, or its own when another
    /// conversation holds that (docs/security.md); none for an identification.
    request_id: Option<String>,
}

/// A contact form: `contact.created` when the person was not known before this batch (the
/// first of the batch's submissions of a new person), else `contact.updated`; and
/// `contact_request.created` for the submission that made the request, under the id it is
/// stored under.
async fn submissions(
    conn: &mut PgConnection,
    triggers: &[Trigger],
    endpoints: &[Endpoint],
    out: &mut Vec<NewDelivery>,
) -> Result<(), sqlx::Error> {
    // Each submission with the id it named and the one it has when another conversation holds
    // that.
    let subs: Vec<(&Trigger, Option<&str>, Option<String>)> = triggers
        .iter()
        .filter_map(|t| match &t.what {
            What::Submitted {
                request_id,
                conversation_id,
            } => {
                let own = request_id
                    .as_deref()
                    .map(|r| own_request_id(&t.website_id, r, conversation_id));
                Some((t, request_id.as_deref(), own))
            }
            _ => None,
        })
        .collect();
    if subs.is_empty() {
        return Ok(());
    }
    let event_ids: Vec<Uuid> = subs.iter().map(|(t, ..)| t.event_id).collect();
    let rows: Vec<Submission> = sqlx::query_as(
        "SELECT t.event_id, i.contact_id, ct.channel AS contact_channel,
                    ct.contact_id IS NOT NULL AND ct.erased_at IS NULL AS live,
                    NOT EXISTS (
                        SELECT 1 FROM contact_identities k
                        JOIN contact_observations ko ON ko.website_id = k.website_id
                                                    AND ko.key = k.key
                        WHERE k.website_id = t.website_id AND k.contact_id = i.contact_id
                          AND ko.event_id <> ALL($3))
                    AND NOT EXISTS (
                        SELECT 1 FROM contact_identities k
                        JOIN contact_edits ke ON ke.website_id = k.website_id AND ke.key = k.key
                        WHERE k.website_id = t.website_id AND k.contact_id = i.contact_id)
                    AS new,
                    c.channel, COALESCE(r.conversation_id, o.conversation_id) AS conversation_id,
                    r.request_id
             FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[])
                  AS t(website_id, request_id, event_id, own_id)
             LEFT JOIN contact_requests r ON r.website_id = t.website_id
                                    AND r.request_id IN (t.request_id, t.own_id)
                                    AND r.event_id = t.event_id
             LEFT JOIN contact_observations o ON o.event_id = t.event_id
                                             AND o.website_id = t.website_id
             LEFT JOIN contact_identities i ON i.website_id = o.website_id AND i.key = o.key
             LEFT JOIN contacts ct ON ct.website_id = i.website_id AND ct.contact_id = i.contact_id
             LEFT JOIN conversations c ON c.website_id = t.website_id
                                      AND c.conversation_id = COALESCE(r.conversation_id, o.conversation_id)
             -- A form's request is there (applied in this batch); an identification has none.
             WHERE (t.request_id IS NULL) = (r.request_id IS NULL)",
    )
    .bind(
        subs.iter()
            .map(|(t, ..)| t.website_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(subs.iter().map(|(_, r, _)| *r).collect::<Vec<_>>())
    .bind(&event_ids)
    .bind(subs.iter().map(|(.., own)| own.as_deref()).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let rows: BTreeMap<Uuid, Submission> = rows.into_iter().map(|r| (r.event_id, r)).collect();
    let mut created = HashSet::new();
    for (t, ..) in subs {
        let Some(Submission {
            contact_id: contact,
            contact_channel,
            live,
            new,
            channel,
            conversation_id: conversation,
            request_id,
            ..
        }) = rows.get(&t.event_id)
        else {
            continue;
        };
        if let (Some(contact), true) = (contact, *live) {
            let kind = if *new && created.insert(contact.clone()) {
                "contact.created"
            } else {
                "contact.updated"
            };
            let subject = json!({"contact_id": contact, "conversation_id": conversation});
            Message::about_contact(t, kind, contact, subject).to_subscribers(
                endpoints,
                contact_channel.as_deref(),
                out,
            );
        }
        if let Some(request_id) = request_id {
            let kind = "contact_request.created";
            Message::about_request(t, kind, request_id, conversation, contact.as_deref())
                .to_subscribers(endpoints, channel.as_deref(), out);
        }
    }
    Ok(())
}

/// The contact an id names now (ids merged away still name their contact), its channel, and
/// whether it is erased.
async fn contact_of(
    conn: &mut PgConnection,
    website_id: &str,
    id: &str,
) -> Result<Option<(String, Option<String>, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.contact_id, ct.channel, ct.erased_at IS NOT NULL
         FROM contact_identities i
         LEFT JOIN contacts ct ON ct.website_id = i.website_id AND ct.contact_id = i.contact_id
         WHERE i.website_id = $1 AND i.key = $2",
    )
    .bind(website_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
}

/// An admin's edit or merge: `contact.updated`, a merge naming the ids merged into the
/// contact.
async fn contact_changes(
    conn: &mut PgConnection,
    triggers: &[Trigger],
    endpoints: &[Endpoint],
    out: &mut Vec<NewDelivery>,
) -> Result<(), sqlx::Error> {
    for t in triggers {
        let (id, merged) = match &t.what {
            What::ContactEdited { contact_id } => (contact_id, None),
            What::ContactsMerged { surviving, merged } => (surviving, Some(merged)),
            _ => continue,
        };
        let Some((contact, channel, erased)) = contact_of(conn, &t.website_id, id).await? else {
            continue;
        };
        if erased {
            continue;
        }
        let kind = "contact.updated";
        let subject = match merged {
            Some(merged) => json!({"contact_id": contact, "merged_contact_ids": merged}),
            None => json!({"contact_id": contact}),
        };
        Message::about_contact(t, kind, &contact, subject).to_subscribers(
            endpoints,
            channel.as_deref(),
            out,
        );
    }
    Ok(())
}

/// A request moved by an admin, when the move was applied (a refused one changed nothing).
async fn request_moves(
    conn: &mut PgConnection,
    triggers: &[Trigger],
    endpoints: &[Endpoint],
    out: &mut Vec<NewDelivery>,
) -> Result<(), sqlx::Error> {
    for t in triggers {
        let What::RequestStatusChanged { request_id } = &t.what else {
            continue;
        };
        let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT r.conversation_id, r.contact_id, c.channel
             FROM contact_request_changes ch
             JOIN contact_requests r ON r.website_id = ch.website_id
                                    AND r.request_id = ch.request_id
             LEFT JOIN conversations c ON c.website_id = r.website_id
                                      AND c.conversation_id = r.conversation_id
             WHERE ch.event_id = $1 AND ch.outcome = 'applied'",
        )
        .bind(t.event_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((conversation, contact, channel)) = row else {
            continue;
        };
        let kind = "contact_request.status_changed";
        Message::about_request(t, kind, request_id, &conversation, contact.as_deref())
            .to_subscribers(endpoints, channel.as_deref(), out);
    }
    Ok(())
}

/// Closes and ratings, one delivery each; a hand-off once per conversation, when the
/// conversation reads as handed to a human (`handoff_at`, decided from its whole timeline).
async fn conversation_events(
    conn: &mut PgConnection,
    triggers: &[Trigger],
    endpoints: &[Endpoint],
    out: &mut Vec<NewDelivery>,
) -> Result<(), sqlx::Error> {
    for t in triggers {
        let (conversation_id, kind) = match &t.what {
            What::ConversationClosed { conversation_id } => {
                (conversation_id, "conversation.closed")
            }
            What::ConversationRated { conversation_id } => (conversation_id, "conversation.rated"),
            What::MaybeHandedOff { conversation_id } => {
                (conversation_id, "conversation.handed_off")
            }
            _ => continue,
        };
        if !endpoints.iter().any(|e| e.subscribes(&t.website_id, kind)) {
            continue;
        }
        let row: Option<(String, Option<String>, bool)> = sqlx::query_as(
            "SELECT channel, contact_id, handoff_at IS NOT NULL FROM conversations
             WHERE website_id = $1 AND conversation_id = $2",
        )
        .bind(&t.website_id)
        .bind(conversation_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((channel, contact, handed_off)) = row else {
            continue;
        };
        if kind == "conversation.handed_off" && !handed_off {
            continue;
        }
        // A hand-off is sent once per conversation, whatever flagged it.
        let cause = if kind == "conversation.handed_off" {
            format!("{}/{conversation_id}", t.website_id)
        } else {
            t.event_id.to_string()
        };
        let message = Message {
            trigger: t,
            kind,
            cause,
            order_key: format!("conversation:{conversation_id}"),
            subject: json!({"conversation_id": conversation_id, "contact_id": contact}),
        };
        message.to_subscribers(endpoints, Some(&channel), out);
    }
    Ok(())
}

/// `contact.erased` to every endpoint that was sent anything about the person (whatever it
/// subscribed to), and what still waits about them dropped: nothing personal about them
/// leaves after the erasure. Returns how many were dropped.
async fn erasure(
    conn: &mut PgConnection,
    t: &Trigger,
    contact_id: &str,
    endpoints: &[Endpoint],
    out: &mut Vec<NewDelivery>,
) -> Result<u64, sqlx::Error> {
    let Some((contact, _, _)) = contact_of(conn, &t.website_id, contact_id).await? else {
        return Ok(0);
    };
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM contact_identities WHERE website_id = $1 AND contact_id = $2",
    )
    .bind(&t.website_id)
    .bind(&contact)
    .fetch_all(&mut *conn)
    .await?;
    let conversations: Vec<String> = sqlx::query_scalar(
        "SELECT conversation_id FROM conversations WHERE website_id = $1 AND contact_id = ANY($2)",
    )
    .bind(&t.website_id)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let dropped = sqlx::query(
        "UPDATE colloquy.webhook_deliveries
         SET state = 'dropped', last_error = 'the contact was erased', done_at = now(),
             locked_until = NULL
         WHERE website_id = $1 AND state = 'pending' AND kind <> 'contact.erased'
           AND (subject->>'contact_id' = ANY($2) OR subject->>'conversation_id' = ANY($3))",
    )
    .bind(&t.website_id)
    .bind(&ids)
    .bind(&conversations)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let received: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT endpoint_id FROM colloquy.webhook_deliveries
         WHERE website_id = $1 AND attempts > 0 AND kind <> 'contact.erased'
           AND (subject->>'contact_id' = ANY($2) OR subject->>'conversation_id' = ANY($3))",
    )
    .bind(&t.website_id)
    .bind(&ids)
    .bind(&conversations)
    .fetch_all(&mut *conn)
    .await?;
    let subject = json!({"contact_id": contact, "erased_contact_ids": ids});
    let message = Message::about_contact(t, "contact.erased", &contact, subject);
    for e in endpoints
        .iter()
        .filter(|e| received.contains(&e.endpoint_id))
    {
        out.push(message.to(e));
    }
    Ok(dropped)
}

/// Writes `rows` in their order (their `seq`), each once.
async fn insert(conn: &mut PgConnection, rows: &[NewDelivery]) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    use super::column;
    let done = sqlx::query(
        "INSERT INTO colloquy.webhook_deliveries (delivery_id, endpoint_id, website_id, kind,
             order_key, event_id, occurred_at, subject)
         SELECT d, e, w, k, o, ev, at, s
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                     $7::timestamptz[], $8::jsonb[]) WITH ORDINALITY AS t(d, e, w, k, o, ev, at, s, n)
         ORDER BY n
         ON CONFLICT (delivery_id) DO NOTHING",
    )
    .bind(column(rows, |r| r.delivery_id))
    .bind(column(rows, |r| r.endpoint_id))
    .bind(column(rows, |r| r.website_id.as_str()))
    .bind(column(rows, |r| r.kind))
    .bind(column(rows, |r| r.order_key.as_str()))
    .bind(column(rows, |r| r.event_id))
    .bind(column(rows, |r| r.occurred_at))
    .bind(column(rows, |r| r.subject.clone()))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
