-- Roles: `public` (requests without a token), `authenticated` (default for new users) and custom ones.
CREATE TABLE up_roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    type        TEXT    NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- Users. `email` is stored lower-case. `unique_email` holds the email while the
-- "one account per email" setting is on when the row is written, NULL otherwise, so the
-- unique index enforces the setting under concurrency without forbidding what it allows.
CREATE TABLE up_users (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id               TEXT    NOT NULL UNIQUE,
    username                  TEXT    NOT NULL UNIQUE,
    email                     TEXT    NOT NULL,
    unique_email              TEXT    UNIQUE,
    provider                  TEXT    NOT NULL DEFAULT 'local',
    password                  TEXT,
    reset_password_token      TEXT    UNIQUE,
    reset_password_expires_at TIMESTAMP,
    confirmation_token        TEXT    UNIQUE,
    confirmed                 BOOLEAN NOT NULL DEFAULT 0,
    blocked                   BOOLEAN NOT NULL DEFAULT 0,
    role_id                   INTEGER NOT NULL REFERENCES up_roles (id) ON DELETE RESTRICT,
    attributes                TEXT    NOT NULL DEFAULT '{}',
    tokens_valid_after        BIGINT  NOT NULL DEFAULT 0,
    created_at                TIMESTAMP NOT NULL,
    updated_at                TIMESTAMP NOT NULL
);
CREATE INDEX up_users_role_id ON up_users (role_id);
CREATE INDEX up_users_email ON up_users (email);

-- Grants: a role may perform an action, under conditions (alternatives) and on fields.
CREATE TABLE up_permissions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    role_id     INTEGER NOT NULL REFERENCES up_roles (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    conditions  TEXT    NOT NULL DEFAULT '[]',
    fields      TEXT,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    UNIQUE (role_id, action)
);
