-- Where the projector is in each partition. Written in the same transaction as the read-model
-- rows, so the stored position and the data can never disagree.
CREATE TABLE projector_offsets (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Every applied event, once. Its primary key is what makes re-delivered events harmless:
-- an event whose id is already here changes nothing.
CREATE TABLE event_log (
    event_id         uuid        PRIMARY KEY,
    type             text        NOT NULL,
    schema_version   integer     NOT NULL,
    website_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    context          jsonb       NOT NULL,
    payload          jsonb       NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL
);
CREATE INDEX event_log_by_website_time ON event_log (website_id, occurred_at);

-- One row per chat session. Every column is a commutative fold of the conversation's events
-- (min/max of times, sums of counts), so the order events arrive in does not matter.
CREATE TABLE conversations (
    website_id        text        NOT NULL,
    conversation_id   text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('loaded', 'active')),
    channel           text        NOT NULL,
    widget_loaded_at  timestamptz,
    engaged_at        timestamptz,
    first_message_at  timestamptz,
    last_message_at   timestamptz,
    message_count     bigint      NOT NULL DEFAULT 0,
    first_seen_at     timestamptz NOT NULL,
    last_activity_at  timestamptz NOT NULL,
    PRIMARY KEY (website_id, conversation_id)
);
CREATE INDEX conversations_newest ON conversations (website_id, last_activity_at DESC, conversation_id);
CREATE INDEX conversations_newest_all ON conversations (last_activity_at DESC, conversation_id);

CREATE TABLE messages (
    event_id          uuid        PRIMARY KEY,
    website_id        text        NOT NULL,
    conversation_id   text        NOT NULL,
    message_id        text,
    sender            text        NOT NULL CHECK (sender IN ('user', 'bot', 'agent')),
    text              text        NOT NULL,
    sent_at           timestamptz NOT NULL,
    response_time_ms  bigint,
    confidence_score  double precision,
    requires_human    boolean     NOT NULL DEFAULT false
);
CREATE INDEX messages_by_conversation ON messages (website_id, conversation_id, sent_at, event_id);
