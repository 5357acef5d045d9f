-- The website's own days (`website.time_zone_changed`; the latest change by (changed_at,
-- event_id) wins). Statistics, series and date filters count a website's days in its zone,
-- UTC until it sets one. A projection added after history existed.
CREATE TABLE website_time_zones (
    website_id  text        PRIMARY KEY,
    time_zone   text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    event_id    uuid        NOT NULL
);

-- Who the visitor of a conversation is: ingest's daily-salted hash from the context of the
-- conversation's earliest event (as the origin columns). Unique visitors over any range of a
-- website's days count these, read from the conversations started in it. The hash names no one
-- and stays readable in the topic, so erasure keeps it (as daily_visitors does): counts stay.
ALTER TABLE conversations ADD COLUMN visitor text;
UPDATE conversations c SET visitor = l.context->>'visitor'
FROM event_log l
WHERE l.event_id = c.origin_event AND l.website_id = c.website_id
  AND l.conversation_id = c.conversation_id AND l.context ? 'visitor';

-- The funnel is read from `conversations` now, with every other statistic, through the same
-- definitions; its own projection is no longer read, so it is no longer written.
DROP TABLE funnel_conversations;

-- Every statistic reads the conversations started in a range of days.
CREATE INDEX conversations_started ON conversations (website_id, first_seen_at);
CREATE INDEX conversations_started_all ON conversations (first_seen_at);
