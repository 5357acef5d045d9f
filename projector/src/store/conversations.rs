//! Upserts conversation deltas. The merge rules mirror `ConversationDelta::merge`, so applying
//! deltas in any order gives the same row.

use std::sync::LazyLock;

use sqlx::PgConnection;

use crate::projections::ConversationDelta;
use crate::store::column;

/// The upsert, with the earliest-stamped values written by [`earliest`].
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let customer = earliest("customer", &["customer_id"]);
    let first_response = earliest("first_response", &["first_response_ms"]);
    format!(
        "INSERT INTO conversations AS c (website_id, conversation_id, status, channel,
                widget_loaded_at, engaged_at, first_message_at, last_message_at, message_count,
                first_seen_at, last_activity_at,
                user_messages, bot_messages, agent_messages, bot_response_ms_sum, bot_responses,
                requires_human, cta_clicks, closed_at, closed_event, close_reason,
                rating, rating_comment, rated_at, rated_event,
                ip_address, user_agent, device, language, page_url, environment, origin_at, origin_event,
                customer_id, customer_at, customer_event,
                first_response_ms, first_response_at, first_response_event, visitor, country)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                              $5::timestamptz[], $6::timestamptz[], $7::timestamptz[],
                              $8::timestamptz[], $9::bigint[], $10::timestamptz[], $11::timestamptz[],
                              $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[],
                              $17::bool[], $18::bigint[], $19::timestamptz[], $20::uuid[], $21::text[],
                              $22::smallint[], $23::text[], $24::timestamptz[], $25::uuid[],
                              $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[],
                              $32::timestamptz[], $33::uuid[], $34::text[], $35::timestamptz[], $36::uuid[],
                              $37::bigint[], $38::timestamptz[], $39::uuid[], $40::text[],
                              $41::text[])
         ON CONFLICT (website_id, conversation_id) DO UPDATE SET
            channel = CASE WHEN (EXCLUDED.first_seen_at, EXCLUDED.channel) < (c.first_seen_at, c.channel)
                           THEN EXCLUDED.channel ELSE c.channel END,
            widget_loaded_at = LEAST(c.widget_loaded_at, EXCLUDED.widget_loaded_at),
            engaged_at = LEAST(c.engaged_at, EXCLUDED.engaged_at),
            first_message_at = LEAST(c.first_message_at, EXCLUDED.first_message_at),
            last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at),
            message_count = c.message_count + EXCLUDED.message_count,
            first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
            last_activity_at = GREATEST(c.last_activity_at, EXCLUDED.last_activity_at),
            user_messages = c.user_messages + EXCLUDED.user_messages,
            bot_messages = c.bot_messages + EXCLUDED.bot_messages,
            agent_messages = c.agent_messages + EXCLUDED.agent_messages,
            bot_response_ms_sum = c.bot_response_ms_sum + EXCLUDED.bot_response_ms_sum,
            bot_responses = c.bot_responses + EXCLUDED.bot_responses,
            requires_human = c.requires_human OR EXCLUDED.requires_human,
            cta_clicks = c.cta_clicks + EXCLUDED.cta_clicks,
            -- The latest close and rating by (time, event id).
            closed_at = GREATEST(c.closed_at, EXCLUDED.closed_at),
            closed_event = CASE WHEN c.closed_at IS NULL OR (EXCLUDED.closed_at, EXCLUDED.closed_event) > (c.closed_at, c.closed_event)
                                THEN COALESCE(EXCLUDED.closed_event, c.closed_event) ELSE c.closed_event END,
            close_reason = CASE WHEN c.closed_at IS NULL OR (EXCLUDED.closed_at, EXCLUDED.closed_event) > (c.closed_at, c.closed_event)
                                THEN COALESCE(EXCLUDED.close_reason, c.close_reason) ELSE c.close_reason END,
            rated_at = GREATEST(c.rated_at, EXCLUDED.rated_at),
            rated_event = CASE WHEN c.rated_at IS NULL OR (EXCLUDED.rated_at, EXCLUDED.rated_event) > (c.rated_at, c.rated_event)
                               THEN COALESCE(EXCLUDED.rated_event, c.rated_event) ELSE c.rated_event END,
            rating = CASE WHEN c.rated_at IS NULL OR (EXCLUDED.rated_at, EXCLUDED.rated_event) > (c.rated_at, c.rated_event)
                          THEN COALESCE(EXCLUDED.rating, c.rating) ELSE c.rating END,
            rating_comment = CASE WHEN c.rated_at IS NULL OR (EXCLUDED.rated_at, EXCLUDED.rated_event) > (c.rated_at, c.rated_event)
                                  THEN CASE WHEN EXCLUDED.rated_at IS NULL THEN c.rating_comment ELSE EXCLUDED.rating_comment END
                                  ELSE c.rating_comment END,
            -- The origin and the customer: the earliest by (time, event id).
            ip_address = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.ip_address ELSE c.ip_address END,
            user_agent = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.user_agent ELSE c.user_agent END,
            device = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.device ELSE c.device END,
            language = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.language ELSE c.language END,
            page_url = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.page_url ELSE c.page_url END,
            environment = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.environment ELSE c.environment END,
            country = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.country ELSE c.country END,
            visitor = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.visitor ELSE c.visitor END,
            origin_event = CASE WHEN c.origin_at IS NULL OR (EXCLUDED.origin_at, EXCLUDED.origin_event) < (c.origin_at, c.origin_event)
                          THEN EXCLUDED.origin_event ELSE c.origin_event END,
            origin_at = LEAST(c.origin_at, EXCLUDED.origin_at),
            {customer},
            -- The first bot response: the earliest by (time, event id).
            {first_response},
            -- As ConversationDelta::status, from the merged values.
            status = CASE
                WHEN GREATEST(c.closed_at, EXCLUDED.closed_at) IS NOT NULL
                     AND GREATEST(c.closed_at, EXCLUDED.closed_at)
                         >= COALESCE(GREATEST(c.last_message_at, EXCLUDED.last_message_at), '-infinity')
                THEN 'closed'
                WHEN LEAST(c.engaged_at, EXCLUDED.engaged_at) IS NOT NULL THEN 'active'
                ELSE 'loaded' END"
    )
});

/// `SET` items keeping, of the stored row and the incoming one, the `values` stamped earliest
/// by `({stamp}_at, {stamp}_event)`, as `Stamped::earliest` does: an incoming row without a
/// stamp changes nothing.
fn earliest(stamp: &str, values: &[&str]) -> String {
    let (at, event) = (format!("{stamp}_at"), format!("{stamp}_event"));
    let wins = format!(
        "EXCLUDED.{at} IS NOT NULL AND (c.{at} IS NULL
            OR (EXCLUDED.{at}, EXCLUDED.{event}) < (c.{at}, c.{event}))"
    );
    values
        .iter()
        .chain([&event.as_str()])
        .map(|v| format!("{v} = CASE WHEN {wins} THEN EXCLUDED.{v} ELSE c.{v} END"))
        .chain([format!("{at} = LEAST(c.{at}, EXCLUDED.{at})")])
        .collect::<Vec<_>>()
        .join(",\n            ")
}

pub async fn upsert(
    conn: &mut PgConnection,
    deltas: &[ConversationDelta],
) -> Result<(), sqlx::Error> {
    if deltas.is_empty() {
        return Ok(());
    }
    sqlx::query(&UPSERT)
        .bind(column(deltas, |d| d.website_id.as_str()))
        .bind(column(deltas, |d| d.conversation_id.as_str()))
        .bind(column(deltas, |d| d.status()))
        .bind(column(deltas, |d| d.channel.as_str()))
        .bind(column(deltas, |d| d.widget_loaded_at))
        .bind(column(deltas, |d| d.engaged_at))
        .bind(column(deltas, |d| d.first_message_at))
        .bind(column(deltas, |d| d.last_message_at))
        .bind(column(deltas, |d| d.message_count))
        .bind(column(deltas, |d| d.first_seen_at))
        .bind(column(deltas, |d| d.last_activity_at))
        .bind(column(deltas, |d| d.user_messages))
        .bind(column(deltas, |d| d.bot_messages))
        .bind(column(deltas, |d| d.agent_messages))
        .bind(column(deltas, |d| d.bot_response_ms_sum))
        .bind(column(deltas, |d| d.bot_responses))
        .bind(column(deltas, |d| d.requires_human))
        .bind(column(deltas, |d| d.cta_clicks))
        .bind(column(deltas, |d| d.closed.as_ref().map(|c| c.at)))
        .bind(column(deltas, |d| d.closed.as_ref().map(|c| c.event_id)))
        .bind(column(deltas, |d| {
            d.closed.as_ref().map(|c| c.value.as_str())
        }))
        .bind(column(deltas, |d| d.rating.as_ref().map(|r| r.value.0)))
        .bind(column(deltas, |d| {
            d.rating.as_ref().and_then(|r| r.value.1.as_deref())
        }))
        .bind(column(deltas, |d| d.rating.as_ref().map(|r| r.at)))
        .bind(column(deltas, |d| d.rating.as_ref().map(|r| r.event_id)))
        .bind(column(deltas, |d| {
            d.origin.as_ref().and_then(|o| o.value.ip.as_deref())
        }))
        .bind(column(deltas, |d| {
            d.origin
                .as_ref()
                .and_then(|o| o.value.user_agent.as_deref())
        }))
        .bind(column(deltas, |d| {
            d.origin.as_ref().and_then(|o| o.value.device.as_deref())
        }))
        .bind(column(deltas, |d| {
            d.origin.as_ref().and_then(|o| o.value.language.as_deref())
        }))
        .bind(column(deltas, |d| {
            d.origin.as_ref().and_then(|o| o.value.page_url.as_deref())
        }))
        .bind(column(deltas, |d| {
            d.origin.as_ref().map(|o| o.value.environment.as_str())
        }))
        .bind(column(deltas, |d| d.origin.as_ref().map(|o| o.at)))
        .bind(column(deltas, |d| d.origin.as_ref().map(|o| o.event_id)))
        .bind(column(deltas, |d| {
            d.customer.as_ref().and_then(|c| c.value.as_deref())
        }))
        .bind(column(deltas, |d| d.customer.as_ref().map(|c| c.at)))
        .bind(column(deltas, |d| d.customer.as_ref().map(|c| c.event_id)))
        .bind(column(deltas, |d| {
            d.first_response.as_ref().map(|r| r.value)
        }))
        .bind(column(deltas, |d| d.first_response.as_ref().map(|r| r.at)))
        .bind(column(deltas, |d| {
            d.first_response.as_ref().map(|r| r.event_id)
        }))
        .bind(column(deltas, |d| {
            d.origin.as_ref().and_then(|o| o.value.visitor.as_deref())
        }))
        .bind(column(deltas, |d| {
            d.origin.as_ref().and_then(|o| o.value.country.as_deref())
        }))
        .execute(conn)
        .await?;
    Ok(())
}
