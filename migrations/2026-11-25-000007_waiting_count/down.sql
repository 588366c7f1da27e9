DROP TRIGGER queue_entries_waiting_count ON queue_entries;
DROP FUNCTION queue_entries_waiting_count();
ALTER TABLE events DROP COLUMN waiting_count;
