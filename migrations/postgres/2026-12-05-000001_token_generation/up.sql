-- Which JWTs of a user are valid: those that carry the user's current generation (claim `gen`).
-- A password change or reset moves it on, so a token issued before the change is refused and the
-- one issued by the change works, however close in time. Tokens without `gen` (issued by earlier
-- versions) keep being judged by `tokens_valid_after` (Unix seconds).
ALTER TABLE up_users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
