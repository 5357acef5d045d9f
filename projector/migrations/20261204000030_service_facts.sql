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

-- The facts of the conversations `(websites[i], conversation_ids[i])`, from their rows: every
-- message, flag and close of each conversation on one timeline, read once in its order (window
-- functions) and folded per conversation. No join between per-conversation results: the
-- planner cannot know how many conversations the arrays hold, and nested loops over such
-- joins grew with the square of a batch.
CREATE FUNCTION conversation_facts(websites text[], conversation_ids text[])
RETURNS TABLE (website_id text, conversation_id text, bot_first_response_ms bigint,
               agent_first_response_ms bigint, handoff_at timestamptz, handoff_reason text,
               handoff_response_ms bigint, resolution_ms bigint, reopens integer,
               unanswered boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH k AS MATERIALIZED (
        SELECT DISTINCT w AS website_id, i AS conversation_id
        FROM unnest(websites, conversation_ids) AS u(w, i)),
    m AS MATERIALIZED (
        SELECT m.website_id, m.conversation_id, m.event_id, m.message_id, m.sender, m.sent_at,
               m.asked_human
        FROM k JOIN messages m USING (website_id, conversation_id)),
    -- Admins' flags on the conversations' messages, by message id or event id: two equality
    -- lookups, each answered by the flags' primary key.
    flags AS MATERIALIZED (
        SELECT m.website_id, m.conversation_id, f.flagged_at, f.replied_at
        FROM m JOIN message_flags f
          ON f.website_id = m.website_id AND f.message_ref = m.message_id
        UNION
        SELECT m.website_id, m.conversation_id, f.flagged_at, f.replied_at
        FROM m JOIN message_flags f
          ON f.website_id = m.website_id AND f.message_ref = m.event_id::text),
    -- The timeline: `kind` is the sender of a message, `flag`, `replied` or `close`; `asked`
    -- marks a request for a human and `reason` says whose. At one instant messages come
    -- before closes: a message at the time of a close is not after it.
    timeline AS (
        SELECT m.website_id, m.conversation_id, m.sent_at AS at, 0 AS rank, m.sender AS kind,
               m.asked_human AS asked,
               CASE m.sender WHEN 'user' THEN 'visitor_asked' ELSE m.sender || '_asked' END AS reason
        FROM m
        UNION ALL
        SELECT f.website_id, f.conversation_id, f.flagged_at, 1, 'flag', true, 'admin_flagged'
        FROM flags f WHERE f.flagged_at IS NOT NULL
        UNION ALL
        SELECT f.website_id, f.conversation_id, f.replied_at, 1, 'replied', false, NULL
        FROM flags f WHERE f.replied_at IS NOT NULL
        UNION ALL
        SELECT x.website_id, x.conversation_id, x.closed_at, 2, 'close', false, NULL
        FROM k JOIN conversation_closes x USING (website_id, conversation_id)),
    placed AS (
        SELECT t.*,
               min(t.at) FILTER (WHERE t.kind = 'user') OVER whole AS first_visitor_at,
               min(t.at) FILTER (WHERE t.asked) OVER whole AS asked_at,
               max(t.at) FILTER (WHERE t.kind = 'close') OVER so_far AS closed_before
        FROM timeline t
        WINDOW whole AS (PARTITION BY t.website_id, t.conversation_id),
               so_far AS (PARTITION BY t.website_id, t.conversation_id ORDER BY t.at, t.rank
                          ROWS UNBOUNDED PRECEDING)),
    folded AS (
        SELECT p.website_id, p.conversation_id,
               min(p.at) FILTER (WHERE p.kind = 'bot' AND p.at >= p.first_visitor_at)
                   - min(p.first_visitor_at) AS bot_first,
               min(p.at) FILTER (WHERE p.kind = 'agent' AND p.at >= p.first_visitor_at)
                   - min(p.first_visitor_at) AS agent_first,
               min(p.asked_at) AS handoff_at,
               (array_agg(p.reason ORDER BY p.at, p.reason DESC) FILTER (WHERE p.asked))[1] AS reason,
               min(p.at) FILTER (WHERE p.kind IN ('agent', 'replied') AND p.at >= p.asked_at)
                   - min(p.asked_at) AS handoff_response,
               -- Each close after which the visitor wrote (before the next close) is the
               -- latest close before one of the visitor's messages.
               count(DISTINCT p.closed_before) FILTER (WHERE p.kind = 'user')::int4 AS reopens,
               max(p.at) FILTER (WHERE p.kind = 'user') AS last_visitor_at,
               max(p.at) FILTER (WHERE p.kind IN ('bot', 'agent')) AS last_reply_at
        FROM placed p
        GROUP BY p.website_id, p.conversation_id)
    SELECT f.website_id, f.conversation_id,
           floor(extract(epoch FROM f.bot_first) * 1000)::int8,
           floor(extract(epoch FROM f.agent_first) * 1000)::int8,
           f.handoff_at, f.reason,
           floor(extract(epoch FROM f.handoff_response) * 1000)::int8,
           CASE WHEN c.status = 'closed'
                THEN floor(extract(epoch FROM c.closed_at - c.first_seen_at) * 1000)::int8 END,
           f.reopens,
           f.last_visitor_at IS NOT NULL
               AND (f.last_reply_at IS NULL OR f.last_reply_at < f.last_visitor_at)
    FROM folded f
    JOIN conversations c ON c.website_id = f.website_id AND c.conversation_id = f.conversation_id;
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
