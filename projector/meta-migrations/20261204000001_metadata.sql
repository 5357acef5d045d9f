-- The `colloquy` schema: what is not a read model and outlives every version of them. Which
-- versions exist and which is live, the rebuild's handshake, the projector's partition leases
-- and ingest's shared visitor salts. These migrations keep their own ledger inside the schema
-- (`colloquy._sqlx_migrations`); the read-model migrations run once per version, these once.
--
-- Databases set up before this file created the same tables from the projector's code, hence
-- IF NOT EXISTS throughout: on them this changes nothing.

-- Versions of the read models: version 1 lives in `public`, version n in `rm_v<n>`.
CREATE TABLE IF NOT EXISTS read_models (
    version       integer     PRIMARY KEY,
    schema_name   text        NOT NULL UNIQUE,
    state         text        NOT NULL CHECK (state IN ('building', 'live', 'retired', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,
    -- When it stopped being live: retired versions are dropped a while after
    -- (PROJECTOR_KEEP_RETIRED_S), or at once when an erasure is applied.
    retired_at    timestamptz
);
ALTER TABLE read_models ADD COLUMN IF NOT EXISTS retired_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS read_models_one_live ON read_models ((true)) WHERE state = 'live';
INSERT INTO read_models (version, schema_name, state, activated_at)
    SELECT 1, 'public', 'live', now()
    WHERE NOT EXISTS (SELECT 1 FROM read_models);

-- A rebuild's request that the live projector pause while it switches versions. `paused` and
-- `heartbeat_at` are what projectors before partition leases reported; each process now
-- reports in `projector_instances`.
CREATE TABLE IF NOT EXISTS control (
    id               boolean     PRIMARY KEY DEFAULT true CHECK (id),
    pause_requested  boolean     NOT NULL DEFAULT false,
    paused           boolean     NOT NULL DEFAULT false,
    heartbeat_at     timestamptz
);
INSERT INTO control (id) VALUES (true) ON CONFLICT DO NOTHING;

-- Live projector processes and the partitions their workers hold (projector/src/leases.rs).
CREATE TABLE IF NOT EXISTS projector_instances (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL,
    workers       integer     NOT NULL CHECK (workers > 0),
    paused        boolean     NOT NULL DEFAULT false,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS projector_leases (
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    owner_instance  uuid,
    owner_worker    integer,
    epoch           bigint      NOT NULL DEFAULT 0,
    expires_at      timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at     timestamptz,
    PRIMARY KEY (topic, partition),
    CHECK ((owner_instance IS NULL) = (owner_worker IS NULL))
);

-- The daily salts ingest instances agree on to count unique visitors by a hash
-- (ingest/src/privacy.rs); only today's, tomorrow's and yesterday's are kept.
CREATE TABLE IF NOT EXISTS visitor_salts (
    day   date  PRIMARY KEY,
    salt  bytea NOT NULL
);
