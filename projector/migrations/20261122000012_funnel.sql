-- The engagement funnel: one row per conversation with the stages it reached, bucketed by the
-- hour its widget loaded and the page it loaded on. A projection added after history existed:
-- `projector rebuild` builds it from the beginning of the topic (so it has no row in
-- projection_versions here, where it was not).
CREATE TABLE funnel_conversations (
    website_id         text        NOT NULL,
    conversation_id    text        NOT NULL,
    hour               timestamptz NOT NULL,
    page_url           text        NOT NULL,
    loaded             boolean     NOT NULL,
    engaged            boolean     NOT NULL,
    cta_clicked        boolean     NOT NULL,
    contact_submitted  boolean     NOT NULL,
    PRIMARY KEY (website_id, conversation_id)
);
CREATE INDEX funnel_by_hour ON funnel_conversations (website_id, hour, page_url);
