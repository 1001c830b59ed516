-- API tokens. Only a keyed hash (HMAC-SHA256 with API_TOKEN_SALT) of the key is kept.
CREATE TABLE up_api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL UNIQUE,
    description  TEXT    NOT NULL DEFAULT '',
    type         TEXT    NOT NULL,
    access_key   TEXT    NOT NULL UNIQUE,
    actions      TEXT    NOT NULL DEFAULT '[]',
    lifespan     BIGINT,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
