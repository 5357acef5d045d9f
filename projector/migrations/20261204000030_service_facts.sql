-- What support teams and bot owners judge a conversation by: how soon the bot and a human first
-- answered, when and why it was handed to a human and how soon one replied, how often it was
-- reopened, and whether the visitor's last message went unanswered. Each depends on the order
-- of the conversation's messages and closes, so it is not folded event by event: the projector
-- recomputes it from the rows below for every conversation a batch touched
-- (`conversation_facts_refresh`), after the batch's writes, so it is a function of the rows
-- alone and independent of the order events came in. docs/statistics.md defines each.

-- Whether the message itself asked for a human (`requires_human` in its payload), apart from
-- the admin flags that `requires_human` also takes in.
ALTER TABLE messages ADD COLUMN asked_human boolean NOT NULL DEFAULT false;
UPDATE messages m SET asked_human = true
FROM event_log l
WHERE l.event_id = m.event_id AND l.website_id = m.website_id
  AND l.conversation_id = m.conversation_id AND (l.payload->>'requires_human')::boolean;

-- Every close, not only the latest: a visitor message after one reopens the conversation.
CREATE TABLE conversation_closes (
    event_id         uuid        NOT NULL,
    website_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    closed_at        timestamptz NOT NULL,
    reason           text        NOT NULL,
    PRIMARY KEY (event_id, website_id, conversation_id)
);
CREATE INDEX conversation_closes_by_conversation
    ON conversation_closes (website_id, conversation_id, closed_at);
INSERT INTO conversation_closes
SELECT l.event_id, l.website_id, l.conversation_id, l.occurred_at, COALESCE(l.payload->>'reason', '')
FROM event_log l WHERE l.type = 'conversation.closed';

-- `conversation_changes` holds whole rows, so their type cannot change under it; it is empty
-- outside a transaction.
ALTER TABLE conversation_changes DROP COLUMN conversation;
ALTER TABLE conversations
    -- From the visitor's first message to the first bot (agent) message at or after it.
    ADD COLUMN bot_first_response_ms    bigint,
    ADD COLUMN agent_first_response_ms  bigint,
    -- The first request for a human: a message that asked for one, or an admin's flag.
    ADD COLUMN handoff_at               timestamptz,
    -- `visitor_asked`, `bot_asked`, `agent_asked` (the message's sender) or `admin_flagged`.
    ADD COLUMN handoff_reason           text,
    -- From the handoff to the first agent message (or admin's "a human replied") at or after it.
    ADD COLUMN handoff_response_ms      bigint,
    -- From the first event to the latest close, while closed.
    ADD COLUMN resolution_ms            bigint,
    -- Closes followed by a visitor message before the next close.
    ADD COLUMN reopens                  integer NOT NULL DEFAULT 0,
    -- The visitor's last message has no bot or agent message at or after it.
    ADD COLUMN unanswered               boolean NOT NULL DEFAULT false;
ALTER TABLE conversation_changes ADD COLUMN conversation conversations NOT NULL;

-- The settings of a website's bot (`website.bot_settings_changed`; the latest by (changed_at,
-- event_id) wins): below which confidence a bot answer counts as unsure, and after how many
-- minutes of silence an open conversation counts as over. Defaults when a website set none:
-- `conversation_outcome` and query-api's populations.
CREATE TABLE website_bot_settings (
    website_id            text             PRIMARY KEY,
    low_confidence        double precision NOT NULL,
    idle_minutes          integer          NOT NULL,
    changed_at            timestamptz      NOT NULL,
    event_id              uuid             NOT NULL
);

-- The facts of the conversations `(websites[i], conversation_ids[i])`, from their rows.
CREATE FUNCTION conversation_facts(websites text[], conversation_ids text[])
RETURNS TABLE (website_id text, conversation_id text, bot_first_response_ms bigint,
               agent_first_response_ms bigint, handoff_at timestamptz, handoff_reason text,
               handoff_response_ms bigint, resolution_ms bigint, reopens integer,
               unanswered boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH k AS (
        SELECT DISTINCT w AS website_id, i AS conversation_id
        FROM unnest(websites, conversation_ids) AS u(w, i)),
    m AS (
        SELECT m.website_id, m.conversation_id, m.event_id, m.message_id, m.sender, m.sent_at,
               m.asked_human
        FROM messages m JOIN k USING (website_id, conversation_id)),
    visitor AS (
        SELECT m.website_id, m.conversation_id,
               min(m.sent_at) FILTER (WHERE m.sender = 'user') AS first_at,
               max(m.sent_at) FILTER (WHERE m.sender = 'user') AS last_at,
               max(m.sent_at) FILTER (WHERE m.sender <> 'user') AS last_reply_at
        FROM m GROUP BY 1, 2),
    first_replies AS (
        SELECT m.website_id, m.conversation_id,
               min(m.sent_at) FILTER (WHERE m.sender = 'bot') AS bot_at,
               min(m.sent_at) FILTER (WHERE m.sender = 'agent') AS agent_at
        FROM m JOIN visitor v USING (website_id, conversation_id)
        WHERE m.sent_at >= v.first_at GROUP BY 1, 2),
    -- Every request for a human: messages that asked, and flags on the conversation's messages.
    flags AS (
        SELECT m.website_id, m.conversation_id, f.flagged_at, f.replied_at
        FROM m JOIN message_flags f
          ON f.website_id = m.website_id
         AND (f.message_ref = m.message_id OR f.message_ref = m.event_id::text)),
    asked AS (
        SELECT m.website_id, m.conversation_id, m.sent_at AS at,
               CASE m.sender WHEN 'user' THEN 'visitor_asked' ELSE m.sender || '_asked' END AS reason
        FROM m WHERE m.asked_human
        UNION ALL
        SELECT f.website_id, f.conversation_id, f.flagged_at, 'admin_flagged'
        FROM flags f WHERE f.flagged_at IS NOT NULL),
    handoff AS (
        SELECT DISTINCT ON (a.website_id, a.conversation_id) a.website_id, a.conversation_id,
               a.at, a.reason
        FROM asked a ORDER BY a.website_id, a.conversation_id, a.at, a.reason DESC),
    -- When a human answered after the handoff: agent messages, and admins' "a human replied".
    human AS (
        SELECT h.website_id, h.conversation_id, min(x.at) AS at
        FROM handoff h
        JOIN (SELECT m.website_id, m.conversation_id, m.sent_at AS at FROM m WHERE m.sender = 'agent'
              UNION ALL
              SELECT f.website_id, f.conversation_id, f.replied_at FROM flags f
              WHERE f.replied_at IS NOT NULL) x USING (website_id, conversation_id)
        WHERE x.at >= h.at GROUP BY 1, 2),
    closes AS (
        SELECT x.website_id, x.conversation_id, x.event_id, x.closed_at,
               lead(x.closed_at) OVER (PARTITION BY x.website_id, x.conversation_id
                                       ORDER BY x.closed_at, x.event_id) AS next_at
        FROM conversation_closes x JOIN k USING (website_id, conversation_id)),
    reopened AS (
        SELECT x.website_id, x.conversation_id, count(DISTINCT x.event_id)::int4 AS reopens
        FROM closes x
        JOIN m u ON u.website_id = x.website_id AND u.conversation_id = x.conversation_id
        WHERE u.sender = 'user' AND u.sent_at > x.closed_at
          AND (x.next_at IS NULL OR u.sent_at <= x.next_at)
        GROUP BY 1, 2)
    SELECT k.website_id, k.conversation_id,
           floor(extract(epoch FROM r.bot_at - v.first_at) * 1000)::int8,
           floor(extract(epoch FROM r.agent_at - v.first_at) * 1000)::int8,
           h.at, h.reason,
           floor(extract(epoch FROM x.at - h.at) * 1000)::int8,
           CASE WHEN c.status = 'closed'
                THEN floor(extract(epoch FROM c.closed_at - c.first_seen_at) * 1000)::int8 END,
           COALESCE(o.reopens, 0),
           v.last_at IS NOT NULL AND (v.last_reply_at IS NULL OR v.last_reply_at < v.last_at)
    FROM k
    JOIN conversations c ON c.website_id = k.website_id AND c.conversation_id = k.conversation_id
    LEFT JOIN visitor v ON v.website_id = k.website_id AND v.conversation_id = k.conversation_id
    LEFT JOIN first_replies r ON r.website_id = k.website_id AND r.conversation_id = k.conversation_id
    LEFT JOIN handoff h ON h.website_id = k.website_id AND h.conversation_id = k.conversation_id
    LEFT JOIN human x ON x.website_id = k.website_id AND x.conversation_id = k.conversation_id
    LEFT JOIN reopened o ON o.website_id = k.website_id AND o.conversation_id = k.conversation_id;
END;

-- Recomputes the facts of the conversations named, writing only the rows that changed.
CREATE FUNCTION conversation_facts_refresh(websites text[], conversation_ids text[])
RETURNS void
LANGUAGE sql
BEGIN ATOMIC
    UPDATE conversations c SET
        bot_first_response_ms = f.bot_first_response_ms,
        agent_first_response_ms = f.agent_first_response_ms,
        handoff_at = f.handoff_at,
        handoff_reason = f.handoff_reason,
        handoff_response_ms = f.handoff_response_ms,
        resolution_ms = f.resolution_ms,
        reopens = f.reopens,
        unanswered = f.unanswered
    FROM conversation_facts(websites, conversation_ids) f
    WHERE c.website_id = f.website_id AND c.conversation_id = f.conversation_id
      AND (c.bot_first_response_ms, c.agent_first_response_ms, c.handoff_at, c.handoff_reason,
           c.handoff_response_ms, c.resolution_ms, c.reopens, c.unanswered)
          IS DISTINCT FROM
          (f.bot_first_response_ms, f.agent_first_response_ms, f.handoff_at, f.handoff_reason,
           f.handoff_response_ms, f.resolution_ms, f.reopens, f.unanswered);
END;

-- The conversations projected before: every one, a slice at a time.
CREATE FUNCTION conversation_facts_refresh_all() RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    w text[];
    i text[];
BEGIN
    FOR w, i IN
        SELECT array_agg(s.website_id), array_agg(s.conversation_id)
        FROM (SELECT c.website_id, c.conversation_id,
                     (row_number() OVER (ORDER BY c.website_id, c.conversation_id) - 1) / 10000 AS slice
              FROM conversations c) s
        GROUP BY s.slice
    LOOP
        PERFORM conversation_facts_refresh(w, i);
    END LOOP;
END
$$;

SELECT conversation_facts_refresh_all();
