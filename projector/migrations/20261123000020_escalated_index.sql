-- The statistics count the conversations of a range that asked for a human, a few in a hundred:
-- a partial index holds only those, so the count reads them alone, for one website or (the
-- whole index) for all of them, instead of every conversation of the range.
CREATE INDEX conversations_escalated ON conversations (website_id, engaged_at) WHERE requires_human;
