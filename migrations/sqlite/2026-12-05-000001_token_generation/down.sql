ALTER TABLE up_users DROP COLUMN token_generation;
