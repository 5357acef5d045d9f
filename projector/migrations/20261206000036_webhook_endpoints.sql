-- The webhook endpoints each website's admin registered (`webhook.endpoint_changed`: the whole
-- endpoint; the latest change by (changed_at, event_id) wins), so a rebuild keeps them. What is
-- sent to them, and their signing secrets, live in the `colloquy` schema (meta-migration 2):
-- sending is a deed in the world, not a fold of the topic (docs/webhooks.md).
CREATE TABLE webhook_endpoints (
    endpoint_id  uuid        PRIMARY KEY,
    website_id   text        NOT NULL,
    url          text        NOT NULL,
    kinds        text[]      NOT NULL,
    channel      text,
    description  text,
    enabled      boolean     NOT NULL,
    deleted      boolean     NOT NULL,
    -- The earliest change's time: when it was registered.
    created_at   timestamptz NOT NULL,
    changed_at   timestamptz NOT NULL,
    event_id     uuid        NOT NULL
);
CREATE INDEX webhook_endpoints_by_website ON webhook_endpoints (website_id);
