-- Per-account rate limits set by an operator (`jobby admin set-rate-limit`), for partner
-- integrations and load tests. Absent = the class default.

CREATE TABLE rate_limit_overrides (
    user_id    uuid    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    class      text    NOT NULL CHECK (class IN ('read', 'write', 'cost', 'anonymous')),
    per_minute integer NOT NULL CHECK (per_minute > 0),
    PRIMARY KEY (user_id, class)
);
