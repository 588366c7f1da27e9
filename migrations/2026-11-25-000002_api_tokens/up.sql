-- Personal access tokens. Only the SHA-256 of the token is stored.

CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    -- Scope names, e.g. 'profile:read'.
    scopes       text[]      NOT NULL,
    token_hash   bytea       NOT NULL CONSTRAINT api_tokens_token_hash_key UNIQUE
                                      CHECK (octet_length(token_hash) = 32),
    last4        text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    last_used_ip text,
    revoked_at   timestamptz
);

-- Listing an account's tokens, newest first (ids are UUID v7, so time-ordered).
CREATE INDEX api_tokens_user_id_id_idx ON api_tokens (user_id, id DESC);
