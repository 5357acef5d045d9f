-- A contact search across every website, newest first, had no index in its order: it read
-- every match and sorted them (38-93 ms for a first name matching 24,000 of 244,000
-- contacts). In this order it stops at the page's 50th match (1 ms). Conversations have had
-- the same index since migration 10.
CREATE INDEX contacts_newest_all ON contacts (last_activity_at DESC, website_id, contact_id);
