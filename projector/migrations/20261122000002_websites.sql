-- Websites created through the admin API (website.created); ingest reads their write keys.
-- The earliest creation of a website id wins, whatever order the events arrive in.
CREATE TABLE websites (
    website_id       text        PRIMARY KEY,
    name             text        NOT NULL,
    write_key        text        NOT NULL UNIQUE,
    allowed_origins  text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    event_id         uuid        NOT NULL
);
