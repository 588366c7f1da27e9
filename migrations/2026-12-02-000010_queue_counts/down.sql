ALTER TABLE events ADD COLUMN waiting_count integer NOT NULL DEFAULT 0;

UPDATE events e SET waiting_count = (
    SELECT count(*) FROM queue_entries q WHERE q.event_id = e.id AND q.state = 'waiting'
);

CREATE OR REPLACE FUNCTION queue_entries_waiting_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state = 'waiting' THEN
        UPDATE events SET waiting_count = waiting_count - 1 WHERE id = OLD.event_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.state = 'waiting' THEN
        UPDATE events SET waiting_count = waiting_count + 1 WHERE id = NEW.event_id;
    END IF;
    RETURN NULL;
END
$$;

DROP TABLE queue_counts;
