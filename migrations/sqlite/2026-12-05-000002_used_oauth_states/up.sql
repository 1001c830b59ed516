-- Provider sign-in states already used: a callback works once, on whichever instance it reaches.
-- `digest` is the SHA-256 (hex) of the state; `expires_at` (Unix seconds) is when the state would
-- have expired anyway, after which the row may be deleted.
CREATE TABLE up_used_oauth_states (
    digest     TEXT   PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX up_used_oauth_states_expires_at ON up_used_oauth_states (expires_at);
