-- Tokens end: an expiry and the right to mint tokens come with `token.created`, revocations
-- with `token.revoked`. A revocation is kept apart from the creation it names, so that the two
-- fold to the same state in whichever order they are read. A projection added after history
-- existed; tokens created before it never expire and may not mint.
ALTER TABLE api_tokens
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN may_mint   boolean NOT NULL DEFAULT false,
    -- Who created it (`context.actor` of its event): `bootstrap` or a token's digest.
    ADD COLUMN created_by text;

CREATE TABLE token_revocations (
    token_digest  text        PRIMARY KEY,
    revoked_at    timestamptz NOT NULL,
    event_id      uuid        NOT NULL
);

-- When each token was last used, as query-api saw it (at most once a minute per token per
-- instance). Not a read model: use is not an event, and a rebuild must not forget it, so it
-- lives in the `colloquy` schema every version shares, created under the lock every process
-- takes to create there.
SELECT pg_advisory_xact_lock(7420516);
CREATE SCHEMA IF NOT EXISTS colloquy;
CREATE TABLE IF NOT EXISTS colloquy.token_uses (
    token_digest  text        PRIMARY KEY,
    last_used_at  timestamptz NOT NULL
);

-- Who moved each contact request (`context.actor` of the change), shown in its history.
-- Changes made before actors were recorded show none.
ALTER TABLE contact_request_changes ADD COLUMN actor text;

-- From which offset of each partition admin records must carry a proof of origin
-- (`runtime::proof`): the partition's end when a projector that checks proofs first started, so
-- that admin events written before proofs existed still replay, and every record written after
-- must prove it came from query-api or the operator's tools. A partition without a row (a new
-- topic, or one grown since) requires proofs from its start. Shared by every read-model version.
CREATE TABLE IF NOT EXISTS colloquy.admin_proofs_from (
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    from_offset  bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- A contact request belongs to the conversation of its first submission by the server's clock
-- (`received_at`), which no client sets; a later submission naming its id from another
-- conversation is stored as a request of its own, under its event id.
ALTER TABLE contact_requests ADD COLUMN received_at timestamptz;
UPDATE contact_requests r
SET received_at = COALESCE(
    (SELECT l.received_at FROM event_log l WHERE l.event_id = r.event_id), r.created_at);
ALTER TABLE contact_requests ALTER COLUMN received_at SET NOT NULL;

-- The admin actions on a conversation or contact, for their histories: only events that name
-- an actor (admin events) are in it, so it costs client events nothing.
CREATE INDEX event_log_admin_actions ON event_log (website_id, conversation_id, occurred_at)
    WHERE context ? 'actor';
