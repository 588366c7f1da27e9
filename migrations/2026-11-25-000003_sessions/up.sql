-- Browser sessions. Only the SHA-256 of the cookie value is stored.

CREATE TABLE sessions (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash bytea       NOT NULL CONSTRAINT sessions_secret_hash_key UNIQUE
                                     CHECK (octet_length(secret_hash) = 32),
    csrf_token  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- The purge of expired sessions.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
-- Deleting an account's sessions (and the cascade from users).
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
