ALTER TABLE matches DROP COLUMN started_at;
