-- Erasure by a website's own customer id (`customer.erased`). Every customer key (a
-- name-based UUID of website and customer id) any event of a conversation carried: a
-- conversation is erased when any of them is, now or when it arrives later. Both sets only
-- grow, so any order of replay erases the same conversations.
CREATE TABLE conversation_customers (
    website_id       text NOT NULL,
    conversation_id  text NOT NULL,
    customer_key     text NOT NULL,
    PRIMARY KEY (website_id, conversation_id, customer_key)
);
CREATE INDEX conversation_customers_by_key ON conversation_customers (website_id, customer_key);

CREATE TABLE erased_customers (
    website_id    text NOT NULL,
    customer_key  text NOT NULL,
    PRIMARY KEY (website_id, customer_key)
);
