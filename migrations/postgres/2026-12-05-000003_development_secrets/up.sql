-- Secrets generated in development when JWT_SECRET or API_TOKEN_SALT is not set, kept with the
-- data so that the server and the CLI of one database always agree. Never used in production.
CREATE TABLE up_development_secrets (
    name       TEXT      PRIMARY KEY NOT NULL,
    value      TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL
);
