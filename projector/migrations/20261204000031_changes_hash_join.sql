-- `conversations_changed()` pairs each updated row's old and new version by joining the
-- statement's two transition tables, of which Postgres knows no size: it planned a nested
-- loop, comparing every new row with every old one. An update of 3,000 conversations spent
-- 2.75 s there (9,000,000 comparisons; auto_explain in query-api's statistics test). A hash
-- join pairs them in one pass whatever their number.
ALTER FUNCTION conversations_changed() SET enable_nestloop = off;
