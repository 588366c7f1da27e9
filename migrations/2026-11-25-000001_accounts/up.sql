-- Accounts, with the profile every account has and the settings it may have (a user without
-- a settings row has the default settings).

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    -- Lowercased and trimmed by the domain before it gets here.
    email         text        NOT NULL CONSTRAINT users_email_key UNIQUE,
    account_type  text        NOT NULL CONSTRAINT users_account_type_check
                                       CHECK (account_type IN ('seeker', 'recruiter')),
    -- argon2id, PHC string.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- CIDR strings; empty means any address.
    ip_allowlist  text[]      NOT NULL DEFAULT '{}'
);

CREATE TABLE profiles (
    user_id     uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    headline    text,
    skills      text[]      NOT NULL DEFAULT '{}',
    location    text,
    links       text[]      NOT NULL DEFAULT '{}',
    resume_text text,
    company     text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE settings (
    user_id       uuid  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    timezone      text  NOT NULL,
    -- {"<event type>": {"email": bool, "push": bool}, ...}
    notifications jsonb NOT NULL
);
