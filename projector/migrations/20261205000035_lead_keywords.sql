-- The words that reveal a lead's intent, per website (`website.lead_keywords_changed`; the
-- latest by (changed_at, event_id) wins), with the regular expressions that find each as whole
-- words (`WebsiteLeadKeywords::pattern`). Websites without a row use the defaults
-- (schemas' DEFAULT_PRICING_KEYWORDS and DEFAULT_DEMO_KEYWORDS). query-api scores leads from
-- them at read time (docs/api.md).
CREATE TABLE website_lead_keywords (
    website_id        text        PRIMARY KEY,
    pricing           text[]      NOT NULL,
    demo              text[]      NOT NULL,
    pricing_patterns  text[]      NOT NULL,
    demo_patterns     text[]      NOT NULL,
    changed_at        timestamptz NOT NULL,
    event_id          uuid        NOT NULL
);
