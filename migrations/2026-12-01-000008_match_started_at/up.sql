-- When the interview started: the first time either participant entered the room. A match
-- accepted but not started can still be declined.
ALTER TABLE matches ADD COLUMN started_at timestamptz;
