ALTER TABLE up_users DROP COLUMN attributes_jsonb;
