-- Retention: how long each website keeps raw IP addresses and message texts, and after how
-- many inactive months a contact is due for review (defaults when a website never said).
ALTER TABLE website_privacy
    ADD COLUMN retention_days        integer NOT NULL DEFAULT 90,
    ADD COLUMN contact_review_months integer NOT NULL DEFAULT 12;

-- The latest `retention.applied` cut-off of each website. It only moves forward, and rows
-- from before it lose their IP address and text whenever they arrive, so any order of replay
-- gives the same tables. A projection added after history existed.
CREATE TABLE retention_cutoffs (
    website_id  text        PRIMARY KEY,
    before      timestamptz NOT NULL
);
