-- The live queue: recruiter events with their interviewer seats, the seekers waiting in an
-- event's queue, the matches between them, one-time room tickets, and the durable outbox of
-- domain events written in the same transaction as each change.

CREATE TABLE events (
    id          uuid        PRIMARY KEY,
    owner_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text        NOT NULL,
    description text,
    company     text,
    starts_at   timestamptz,
    ends_at     timestamptz,
    -- Job ids (`job_…`) the event hires for.
    job_ids     text[]      NOT NULL DEFAULT '{}',
    status      text        NOT NULL CONSTRAINT events_status_check
                                     CHECK (status IN ('draft', 'scheduled', 'live', 'ended')),
    created_at  timestamptz NOT NULL,
    started_at  timestamptz,
    ended_at    timestamptz
);

-- The owner's list, newest first.
CREATE INDEX events_owner_id_id_idx ON events (owner_id, id DESC);
-- The public list of live events, newest first.
CREATE INDEX events_live_idx ON events (id DESC) WHERE status = 'live';

-- One seat per interviewer per event. `idle_since` orders free interviewers (longest idle
-- first); it moves on whenever the interviewer's match ends or they become available.
CREATE TABLE event_interviewers (
    event_id   uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    available  boolean     NOT NULL DEFAULT false,
    idle_since timestamptz NOT NULL,
    PRIMARY KEY (event_id, user_id)
);

CREATE INDEX event_interviewers_user_id_idx ON event_interviewers (user_id);

-- A seeker waits in at most one event at a time: one row per seeker. The row stays while the
-- seeker is matched, so a seeker sent back keeps their original place (`joined_at`).
CREATE TABLE queue_entries (
    seeker_id uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    event_id  uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    joined_at timestamptz NOT NULL,
    state     text        NOT NULL CONSTRAINT queue_entries_state_check
                                   CHECK (state IN ('waiting', 'matched')),
    match_id  uuid,
    CONSTRAINT queue_entries_match_check CHECK ((state = 'matched') = (match_id IS NOT NULL))
);

-- Positions and queue lengths: the waiting seekers of an event, first come first served.
CREATE INDEX queue_entries_waiting_idx ON queue_entries (event_id, joined_at, seeker_id)
    WHERE state = 'waiting';

CREATE TABLE matches (
    id                      uuid        PRIMARY KEY,
    event_id                uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    seeker_id               uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    interviewer_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status                  text        NOT NULL CONSTRAINT matches_status_check
                                        CHECK (status IN ('pending', 'accepted', 'completed',
                                                          'declined', 'expired')),
    created_at              timestamptz NOT NULL,
    expires_at              timestamptz NOT NULL,
    seeker_accepted_at      timestamptz,
    interviewer_accepted_at timestamptz,
    ended_at                timestamptz,
    declined_by             text        CONSTRAINT matches_declined_by_check
                                        CHECK (declined_by IN ('seeker', 'interviewer')),
    -- The video room, once created.
    room_name               text
);

-- Exactly once: no seeker in two live matches, no interviewer over one seat. The matching
-- transaction already guarantees this; these indexes make a bug fail loudly instead.
CREATE UNIQUE INDEX matches_live_seeker_key ON matches (seeker_id)
    WHERE status IN ('pending', 'accepted');
CREATE UNIQUE INDEX matches_live_interviewer_key ON matches (interviewer_id)
    WHERE status IN ('pending', 'accepted');
-- The expiry sweeper.
CREATE INDEX matches_pending_expires_at_idx ON matches (expires_at) WHERE status = 'pending';
-- Participants' lists, newest first.
CREATE INDEX matches_seeker_id_id_idx ON matches (seeker_id, id DESC);
CREATE INDEX matches_interviewer_id_id_idx ON matches (interviewer_id, id DESC);
-- Pairs an interviewer declined, which are never matched again in the event.
CREATE INDEX matches_declined_idx ON matches (event_id) WHERE declined_by = 'interviewer';

-- One-time join tickets of the local video room: the SHA-256 of the URL's secret, for one
-- user, valid for 30 seconds, used at most once.
CREATE TABLE room_tickets (
    secret_hash bytea       PRIMARY KEY CHECK (octet_length(secret_hash) = 32),
    match_id    uuid        NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE INDEX room_tickets_expires_at_idx ON room_tickets (expires_at);

-- Domain events, written in the transaction of the change they describe. Readers (the queue
-- stream, outgoing webhooks) follow `id`.
CREATE TABLE outbox (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    event_id    uuid,
    -- The accounts the change concerns (seeker, interviewer).
    user_ids    uuid[]      NOT NULL DEFAULT '{}',
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL
);
