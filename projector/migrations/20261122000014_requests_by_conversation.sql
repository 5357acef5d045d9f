-- The funnel and erasure look requests up by conversation.
CREATE INDEX contact_requests_by_conversation ON contact_requests (website_id, conversation_id);
