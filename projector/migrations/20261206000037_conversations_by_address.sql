-- How many other conversations came from a conversation's address, which its detail shows
-- (query-api's `same_address`): without this, each read counted the website's conversations
-- one by one, and a benchmark whose traffic all came from one address spent Postgres's CPU on
-- it until the projector fell seconds behind (docs/performance.md). Addresses retention cleared
-- are not indexed.
CREATE INDEX conversations_by_address ON conversations (website_id, ip_address)
    WHERE ip_address IS NOT NULL;
