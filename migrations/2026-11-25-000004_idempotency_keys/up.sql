-- Idempotency keys, per account. A row without a response is a claim in progress; the
-- response is saved in the same transaction as the operation's effect.

CREATE TABLE idempotency_keys (
    user_id               uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key                   uuid        NOT NULL,
    -- SHA-256 over method, path, query and body.
    fingerprint           bytea       NOT NULL CHECK (octet_length(fingerprint) = 32),
    created_at            timestamptz NOT NULL,
    response_status       smallint,
    response_content_type text,
    response_body         bytea,
    PRIMARY KEY (user_id, key),
    -- The response columns are set together or not at all.
    CONSTRAINT idempotency_keys_response_check CHECK (
        (response_status IS NULL) = (response_content_type IS NULL)
        AND (response_status IS NULL) = (response_body IS NULL)
    )
);

-- The purge of keys past their retention.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
