-- Lookups the query API makes by id without a website (the bootstrap token sees them all) and
-- by time across websites (exports, hourly series).
CREATE INDEX conversations_by_id ON conversations (conversation_id);
CREATE INDEX messages_by_client_id ON messages (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX contact_requests_by_id ON contact_requests (request_id);
CREATE INDEX contact_requests_newest ON contact_requests (created_at DESC, website_id, request_id);
CREATE INDEX contact_identities_by_key ON contact_identities (key);
CREATE INDEX contacts_by_first_seen ON contacts (website_id, first_seen_at);
CREATE INDEX event_log_by_time ON event_log (occurred_at);
