-- Per-website privacy settings (`website.privacy_changed`): the latest change by
-- (changed_at, event_id) wins. Ingest reads them with the write keys and applies them before
-- events reach the topic. A projection added after history existed: the first rebuild builds
-- it from the beginning of the topic.
CREATE TABLE website_privacy (
    website_id    text        PRIMARY KEY,
    anonymize_ip  boolean     NOT NULL,
    changed_at    timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);
