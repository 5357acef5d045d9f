-- One index finds a message by its client `message_id`, with its website (the projector's
-- flags) or without (query-api's lookups for the bootstrap token): every index on messages is
-- maintained for each message, and these keys are random, so two cost twice.
DROP INDEX messages_by_message_id;
DROP INDEX messages_by_client_id;
CREATE INDEX messages_by_message_id ON messages (message_id, website_id) WHERE message_id IS NOT NULL;
