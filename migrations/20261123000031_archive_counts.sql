-- The dashboard's tab counts (klar / arkivert / feilet per school, dismissed rows
-- left out) as an index-only scan: at 1,000,000 rows 160 ms for all schools and
-- 52 ms for one, instead of 430 ms / 250 ms reading the table (README, "The staff
-- dashboard").
CREATE INDEX IF NOT EXISTS archive_queue_counts
    ON archive_queue (school_id, status) WHERE dismissed_at IS NULL;
