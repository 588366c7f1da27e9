CREATE TABLE queue_counts (
    event_id uuid     NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    shard    smallint NOT NULL,
    waiting  integer  NOT NULL,
    PRIMARY KEY (event_id, shard)
);

INSERT INTO queue_counts (event_id, shard, waiting)
SELECT event_id, get_byte(uuid_send(seeker_id), 15) % 16, count(*)
FROM queue_entries WHERE state = 'waiting' GROUP BY 1, 2;

CREATE OR REPLACE FUNCTION queue_entries_waiting_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state = 'waiting' THEN
        INSERT INTO queue_counts AS c (event_id, shard, waiting)
        VALUES (OLD.event_id, get_byte(uuid_send(OLD.seeker_id), 15) % 16, -1)
        ON CONFLICT (event_id, shard) DO UPDATE SET waiting = c.waiting - 1;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.state = 'waiting' THEN
        INSERT INTO queue_counts AS c (event_id, shard, waiting)
        VALUES (NEW.event_id, get_byte(uuid_send(NEW.seeker_id), 15) % 16, 1)
        ON CONFLICT (event_id, shard) DO UPDATE SET waiting = c.waiting + 1;
    END IF;
    RETURN NULL;
END
$$;

DROP TABLE queue_count_changes;
