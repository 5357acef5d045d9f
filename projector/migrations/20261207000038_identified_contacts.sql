-- contact.identified: a website's own systems naming a conversation's visitor (a Segment
-- `identify` call). It is a contact observation like a form, but asks for nothing, so it has
-- no contact request.
ALTER TABLE contact_observations ALTER COLUMN request_id DROP NOT NULL;
