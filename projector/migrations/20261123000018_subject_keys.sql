-- The key store of sealed personal data (schemas::sealing). Not a read model: it lives in the
-- `colloquy` schema beside the version metadata, every read-model version shares it, no
-- replay writes it, and only erasure deletes from it. It is created here, under the lock every
-- process takes to create in `colloquy`, so that it exists wherever read models do.
SELECT pg_advisory_xact_lock(7420516);
CREATE SCHEMA IF NOT EXISTS colloquy;
CREATE TABLE IF NOT EXISTS colloquy.subject_keys (
    website_id  text        NOT NULL,
    -- The conversation id, or the subject an admin event is keyed by (`contact:<id>`).
    subject     text        NOT NULL,
    key_id      uuid        NOT NULL UNIQUE,
    secret      bytea       NOT NULL CHECK (length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (website_id, subject)
);
