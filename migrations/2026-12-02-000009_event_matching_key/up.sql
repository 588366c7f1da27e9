-- The advisory lock key under which an event's seats are given (a matching round, an accept,
-- an expiry, …): the event id's two 64-bit halves folded together. Joins update the event's
-- row (its waiting count) beside a round, so matching does not lock the row itself.
CREATE FUNCTION event_matching_key(event uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('x' || substr(h, 1, 16))::bit(64)::bigint # ('x' || substr(h, 17, 16))::bit(64)::bigint
    FROM (SELECT replace(event::text, '-', '') AS h) AS hex
$$;
