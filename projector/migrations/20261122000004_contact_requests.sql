-- Every contact form submission, with the status admins give it.
CREATE TABLE contact_requests (
    website_id       text        NOT NULL,
    request_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    name             text,
    email            text,
    phone            text,
    message          text,
    chat_context     jsonb       NOT NULL DEFAULT '[]',
    ip_address       text,
    user_agent       text,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'contacted', 'resolved')),
    notes            text,
    created_at       timestamptz NOT NULL,
    contacted_at     timestamptz,
    resolved_at      timestamptz,
    event_id         uuid        NOT NULL,
    PRIMARY KEY (website_id, request_id)
);
CREATE INDEX contact_requests_by_status ON contact_requests (website_id, status, created_at DESC);

-- Every status change an admin made, and whether it was applied. A request's status is
-- re-folded from these in (occurred_at, event_id) order, so arrival order does not matter.
-- outcome is NULL while the request itself has not arrived yet.
CREATE TABLE contact_request_changes (
    event_id         uuid        PRIMARY KEY,
    website_id       text        NOT NULL,
    request_id       text        NOT NULL,
    status           text        NOT NULL,
    expected_status  text        NOT NULL,
    notes            text,
    occurred_at      timestamptz NOT NULL,
    outcome          text        CHECK (outcome IN ('applied', 'rejected')),
    reason           text
);
CREATE INDEX contact_request_changes_by_request
    ON contact_request_changes (website_id, request_id, occurred_at, event_id);
