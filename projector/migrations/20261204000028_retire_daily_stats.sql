-- Per-UTC-day event counters and first sightings of visitors: no statistic has read them since
-- the statistics count the conversations started in the website's days (migration 26), and the
-- quarter hours of migration 27 hold every figure. Writing them cost every batch a lock on each
-- day it touched, held until it committed, which two workers on one website's day waited on.
DROP TABLE daily_stats;
DROP TABLE daily_visitors;
