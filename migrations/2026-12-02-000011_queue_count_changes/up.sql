-- Seekers waiting per event, kept as changes appended by the trigger (+1, -1) and summed
-- when read, instead of rows updated in place: concurrent joins then never wait for one
-- another's row. The worker folds each live event's changes into one row now and then
-- (see `fold_queue_counts`), so a sum reads a handful of rows.
CREATE TABLE queue_count_changes (
    id       bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    delta    integer NOT NULL
);
CREATE INDEX queue_count_changes_event_idx ON queue_count_changes (event_id) INCLUDE (delta);

INSERT INTO queue_count_changes (event_id, delta)
SELECT event_id, sum(waiting) FROM queue_counts GROUP BY event_id;

CREATE OR REPLACE FUNCTION queue_entries_waiting_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state = 'waiting' THEN
        INSERT INTO queue_count_changes (event_id, delta) VALUES (OLD.event_id, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.state = 'waiting' THEN
        INSERT INTO queue_count_changes (event_id, delta) VALUES (NEW.event_id, 1);
    END IF;
    RETURN NULL;
END
$$;

DROP TABLE queue_counts;
