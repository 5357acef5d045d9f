-- Admin flags on messages (flagged for a human, a human replied), kept apart from the messages
-- so a flag that arrives before its message is not lost: each side looks for the other.
ALTER TABLE messages ADD COLUMN human_replied boolean NOT NULL DEFAULT false;
CREATE INDEX messages_by_message_id ON messages (website_id, message_id) WHERE message_id IS NOT NULL;

CREATE TABLE message_flags (
    website_id    text        NOT NULL,
    -- The message's message_id, or the id of the event that sent it.
    message_ref   text        NOT NULL,
    flagged_at    timestamptz,
    replied_at    timestamptz,
    PRIMARY KEY (website_id, message_ref)
);
