-- Where a conversation started (the context of its earliest event) and who the visitor is
-- (the customer id of the earliest event that carried one): both earliest by (time, event id).
ALTER TABLE conversations
    ADD COLUMN ip_address      text,
    ADD COLUMN user_agent      text,
    ADD COLUMN device          text,
    ADD COLUMN language        text,
    ADD COLUMN page_url        text,
    ADD COLUMN environment     text,
    ADD COLUMN origin_at       timestamptz,
    ADD COLUMN origin_event    uuid,
    ADD COLUMN customer_id     text,
    ADD COLUMN customer_at     timestamptz,
    ADD COLUMN customer_event  uuid;
