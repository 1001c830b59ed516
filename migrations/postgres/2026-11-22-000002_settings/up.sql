-- Documents of settings, one JSON text per key: `advanced` (the advanced settings) and
-- `email` (the email templates).
CREATE TABLE up_settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
