-- Outgoing webhooks (docs/webhooks.md). Not read models: a delivery is a deed in the world, so
-- what was decided and sent outlives every read-model version, and no rebuild writes here (a
-- rebuild must not send history again).

-- Signing secrets (Standard Webhooks `whsec_…`). Never an event, never in a read route after
-- the answer that created it. A rotation gives the old secret an end (`expires_at`); until
-- then deliveries carry a signature by each.
CREATE TABLE webhook_secrets (
    endpoint_id  uuid        NOT NULL,
    secret       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at   timestamptz,
    PRIMARY KEY (endpoint_id, created_at)
);

-- The outbox. The live projector decides deliveries in the transaction that applies the events
-- (so a crash never loses one, and a re-read record, never applied twice, never enqueues one
-- twice); query-api's dispatcher sends them. `delivery_id` is the `webhook-id` receivers
-- deduplicate by: a name-based UUID of endpoint, event and kind, so even a second decision
-- would be the same row. `subject` holds ids only: the body is read from the read models
-- when it is sent, so an erasure or retention that came in between reaches it.
CREATE TABLE webhook_deliveries (
    seq              bigserial   UNIQUE,
    delivery_id      uuid        PRIMARY KEY,
    endpoint_id      uuid        NOT NULL,
    website_id       text        NOT NULL,
    kind             text        NOT NULL,
    -- Deliveries of one key go out one at a time, in `seq` order: a contact's (and its
    -- requests'), or a conversation's.
    order_key        text        NOT NULL,
    event_id         uuid,
    occurred_at      timestamptz NOT NULL,
    subject          jsonb       NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'delivered', 'failed', 'dropped')),
    -- Every attempt ever; `round_attempts` those since it was enqueued or redelivered, which
    -- the retry schedule counts.
    attempts         integer     NOT NULL DEFAULT 0,
    round_attempts   integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A dispatcher's claim: no other takes it before then.
    locked_until     timestamptz,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    done_at          timestamptz
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, order_key, seq)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, seq DESC);
CREATE INDEX webhook_deliveries_contacts ON webhook_deliveries (website_id, (subject->>'contact_id'));

-- Every attempt: the delivery log.
CREATE TABLE webhook_attempts (
    delivery_id  uuid        NOT NULL,
    attempt      integer     NOT NULL,
    at           timestamptz NOT NULL,
    -- The answer's status; NULL when none came (refused, timed out, connection lost).
    status       integer,
    latency_ms   integer     NOT NULL,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);

-- What the dispatcher learnt of an endpoint: failing since the first failure after its last
-- success, and disabled (with why) once it failed for WEBHOOK_DISABLE_AFTER_S.
CREATE TABLE webhook_endpoint_health (
    endpoint_id      uuid        PRIMARY KEY,
    failing_since    timestamptz,
    last_success_at  timestamptz,
    disabled_at      timestamptz,
    disabled_reason  text
);
