-- Conditions created over GraphQL. Built-in conditions, those of castellan.toml and those
-- registered from code live in memory only.
CREATE TABLE up_conditions (
    name         TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    category     TEXT,
    query        TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
