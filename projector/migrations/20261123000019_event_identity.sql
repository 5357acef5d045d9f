-- An event is identified by its id within its conversation, not by its id alone. The topic is
-- keyed by conversation, so only within one is the order of records the same on every read:
-- with ids unique across conversations, a client that reused an id in two of them (a bug, or
-- a fuzzer) had the first to arrive win, and the live projector and a rebuild, reading the
-- partitions in different orders, kept different events. A retry re-sends the same
-- conversation, so it is still one event.
ALTER TABLE event_log DROP CONSTRAINT event_log_pkey,
    ADD PRIMARY KEY (event_id, website_id, conversation_id);
ALTER TABLE messages DROP CONSTRAINT messages_pkey,
    ADD PRIMARY KEY (event_id, website_id, conversation_id);
ALTER TABLE cta_clicks DROP CONSTRAINT cta_clicks_pkey,
    ADD PRIMARY KEY (event_id, website_id, conversation_id);
ALTER TABLE contact_observations DROP CONSTRAINT contact_observations_pkey,
    ADD PRIMARY KEY (event_id, website_id, conversation_id);
