-- Per website and UTC day, enough for every rate over any date range. Event-level counters are
-- sums over events applied once; engaged_conversations moves with a conversation's engagement
-- day; unique_visitors counts first sightings in daily_visitors.
CREATE TABLE daily_stats (
    website_id             text   NOT NULL,
    day                    date   NOT NULL,
    widget_loads           bigint NOT NULL DEFAULT 0,
    engaged_conversations  bigint NOT NULL DEFAULT 0,
    user_messages          bigint NOT NULL DEFAULT 0,
    bot_messages           bigint NOT NULL DEFAULT 0,
    agent_messages         bigint NOT NULL DEFAULT 0,
    cta_clicks             bigint NOT NULL DEFAULT 0,
    contact_requests       bigint NOT NULL DEFAULT 0,
    unique_visitors        bigint NOT NULL DEFAULT 0,
    bot_response_ms_sum    bigint NOT NULL DEFAULT 0,
    bot_responses          bigint NOT NULL DEFAULT 0,
    ratings_sum            bigint NOT NULL DEFAULT 0,
    ratings_count          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (website_id, day)
);

CREATE TABLE daily_visitors (
    website_id  text NOT NULL,
    day         date NOT NULL,
    visitor     text NOT NULL,
    PRIMARY KEY (website_id, day, visitor)
);

CREATE INDEX conversations_engaged ON conversations (website_id, engaged_at);
