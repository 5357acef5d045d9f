-- The response time of a conversation's earliest bot message that carried one, by (time, event
-- id), kept on the conversation: the CSV export looked it up in `messages` for every row, which
-- was 12 µs of Postgres' 31 per exported conversation on 1,000,000 of them.
ALTER TABLE conversations
    ADD COLUMN first_response_ms bigint,
    ADD COLUMN first_response_at timestamptz,
    ADD COLUMN first_response_event uuid;

-- Conversations projected before this migration take it from their messages, by the same rule
-- the projection folds it with.
UPDATE conversations c
SET first_response_ms = f.response_time_ms,
    first_response_at = f.sent_at,
    first_response_event = f.event_id
FROM (SELECT DISTINCT ON (website_id, conversation_id)
             website_id, conversation_id, response_time_ms, sent_at, event_id
      FROM messages
      WHERE sender = 'bot' AND response_time_ms IS NOT NULL
      ORDER BY website_id, conversation_id, sent_at, event_id) f
WHERE c.website_id = f.website_id AND c.conversation_id = f.conversation_id;
