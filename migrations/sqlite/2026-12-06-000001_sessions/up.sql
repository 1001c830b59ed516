-- Sessions of the refresh mode (`jwt.management = "refresh"`): one row per signed-in device.
-- `id` is the session's public id (in its access JWTs as `sid`); `refresh_hash` is the SHA-256
-- (hex) of the session's current refresh token, never the token. `idle_expires_at` and
-- `absolute_expires_at` are Unix seconds; `revoked_at` (Unix seconds) is set when the session
-- ends before them, and the row stays until its access JWTs have expired too.
CREATE TABLE up_sessions (
    id                  TEXT      PRIMARY KEY NOT NULL,
    user_id             INTEGER   NOT NULL REFERENCES up_users (id) ON DELETE CASCADE,
    device_id           TEXT,
    device_name         TEXT      NOT NULL,
    refresh_hash        TEXT      NOT NULL UNIQUE,
    created_at          TIMESTAMP NOT NULL,
    last_used_at        TIMESTAMP NOT NULL,
    idle_expires_at     BIGINT    NOT NULL,
    absolute_expires_at BIGINT    NOT NULL,
    revoked_at          BIGINT
);
CREATE INDEX up_sessions_user_id ON up_sessions (user_id);
CREATE INDEX up_sessions_idle_expires_at ON up_sessions (idle_expires_at);

-- The refresh tokens a session has already exchanged, by their SHA-256 (hex): presenting one
-- again means it was stolen (or replayed), and ends the whole session.
CREATE TABLE up_session_used_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES up_sessions (id) ON DELETE CASCADE
);
CREATE INDEX up_session_used_tokens_session_id ON up_session_used_tokens (session_id);
