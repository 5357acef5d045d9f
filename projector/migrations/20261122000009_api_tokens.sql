-- API tokens limited to some websites (token.created). Only a digest of each token is kept,
-- here and in the topic; the query API compares digests. The earliest creation wins.
CREATE TABLE api_tokens (
    token_digest  text        PRIMARY KEY,
    websites      text[]      NOT NULL,
    name          text,
    created_at    timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);
