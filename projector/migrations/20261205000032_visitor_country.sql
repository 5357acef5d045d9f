-- The visitor's country, from ingest's lookup of the address before anonymising it
-- (`context.country` of the conversation's earliest event; docs/api.md). Events from before
-- ingest looked countries up carry none, so there is nothing to fill in.
ALTER TABLE conversation_changes DROP COLUMN conversation;
ALTER TABLE conversations ADD COLUMN country text;
ALTER TABLE conversation_changes ADD COLUMN conversation conversations NOT NULL;

-- Whether ingest records countries for the website (`website.privacy_changed`); on unless an
-- admin turned it off.
ALTER TABLE website_privacy ADD COLUMN record_country boolean NOT NULL DEFAULT true;
