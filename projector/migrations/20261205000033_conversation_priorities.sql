-- How urgently a conversation needs attention, as an admin last set it
-- (`conversation.priority_changed`; the latest by (changed_at, event_id) wins): 1 low,
-- 2 normal, 3 high, 4 urgent, or NULL when cleared. A conversation without one reads high while
-- flagged for a human, else normal (query-api's `PRIORITY`).
CREATE TABLE conversation_priorities (
    website_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    priority         smallint    CHECK (priority BETWEEN 1 AND 4),
    changed_at       timestamptz NOT NULL,
    event_id         uuid        NOT NULL,
    PRIMARY KEY (website_id, conversation_id)
);
