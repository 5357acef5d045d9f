-- Which code version built each table of this schema from the beginning of the topic. A rebuild
-- compares a table with the live one only when both were built by the same version; a table
-- added later to a schema that already had history (a new projection) gets no row here, because
-- it was not built from the beginning. Every table that exists at this point was.
CREATE TABLE projection_versions (
    table_name  text     PRIMARY KEY,
    version     integer  NOT NULL
);
INSERT INTO projection_versions (table_name, version) VALUES
    ('event_log', 1), ('conversations', 1), ('messages', 1), ('cta_clicks', 1),
    ('contact_requests', 1), ('contact_request_changes', 1), ('daily_stats', 1),
    ('daily_visitors', 1), ('message_flags', 1), ('websites', 1), ('api_tokens', 1),
    ('contact_identities', 1), ('contact_observations', 1), ('contact_edits', 1),
    ('contacts', 1);
