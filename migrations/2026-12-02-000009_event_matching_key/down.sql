DROP FUNCTION event_matching_key(uuid);
