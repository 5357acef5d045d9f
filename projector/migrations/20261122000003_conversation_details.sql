-- What conversations know beyond times and counts; every column merges commutatively:
-- sums, OR, or the latest value by (time, event id).
ALTER TABLE conversations DROP CONSTRAINT conversations_status_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_status_check
    CHECK (status IN ('loaded', 'active', 'closed'));
ALTER TABLE conversations
    ADD COLUMN user_messages        bigint      NOT NULL DEFAULT 0,
    ADD COLUMN bot_messages         bigint      NOT NULL DEFAULT 0,
    ADD COLUMN agent_messages       bigint      NOT NULL DEFAULT 0,
    ADD COLUMN bot_response_ms_sum  bigint      NOT NULL DEFAULT 0,
    ADD COLUMN bot_responses        bigint      NOT NULL DEFAULT 0,
    ADD COLUMN requires_human       boolean     NOT NULL DEFAULT false,
    ADD COLUMN cta_clicks           bigint      NOT NULL DEFAULT 0,
    ADD COLUMN closed_at            timestamptz,
    ADD COLUMN closed_event         uuid,
    ADD COLUMN close_reason         text,
    ADD COLUMN rating               smallint,
    ADD COLUMN rating_comment       text,
    ADD COLUMN rated_at             timestamptz,
    ADD COLUMN rated_event          uuid;

-- One row per cta.clicked, keyed by event id.
CREATE TABLE cta_clicks (
    event_id         uuid        PRIMARY KEY,
    website_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    cta_id           text,
    label            text        NOT NULL,
    value            text,
    customer_id      text,
    clicked_at       timestamptz NOT NULL
);
CREATE INDEX cta_clicks_by_website_time ON cta_clicks (website_id, clicked_at);
