-- Weekly reports. Who receives each website's report and when (`website.reports_changed`;
-- the latest change by (changed_at, event_id) wins). A projection added after history existed.
CREATE TABLE website_reports (
    website_id  text        PRIMARY KEY,
    recipients  text[]      NOT NULL,
    time_zone   text        NOT NULL,
    -- ISO day of the week, 1 (Monday) to 7, and hour of that day in time_zone.
    weekday     smallint    NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    hour        smallint    NOT NULL CHECK (hour BETWEEN 0 AND 23),
    changed_at  timestamptz NOT NULL,
    event_id    uuid        NOT NULL
);

-- Which weeks' reports were sent. Not a read model: sending is a deed in the world, not a fold
-- of the topic, so it lives in the `colloquy` schema beside the version metadata, which every
-- read-model version shares and no rebuild replaces (a rebuild must not send last week's
-- reports again). A row is claimed ('sending') before the message goes to the SMTP server and
-- marked 'sent' once the server took it; a claim is what stops a second send, by this process
-- after a restart or by another instance. Created under the lock every process takes to create
-- in `colloquy`.
SELECT pg_advisory_xact_lock(7420516);
CREATE SCHEMA IF NOT EXISTS colloquy;
CREATE TABLE IF NOT EXISTS colloquy.report_deliveries (
    website_id  text        NOT NULL,
    -- The first day of the week reported.
    week_from   date        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('sending', 'sent')),
    recipients  text[]      NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    PRIMARY KEY (website_id, week_from)
);
