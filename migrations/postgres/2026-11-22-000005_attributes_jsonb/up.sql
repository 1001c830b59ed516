-- The users' attributes, parsed: conditions on `attributes.…` read this column instead of
-- casting the text with `::jsonb` several times per row of every list (see
-- `policy::subject::UserFields`). PostgreSQL computes it on every write of `attributes`, which
-- stays the text the API returns, keys in the order they were given.
--
-- `jsonb` refuses the character U+0000, which Castellan now refuses in attributes on both
-- backends. A row written before that would make the ALTER fail without naming it: it is named.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT id, attributes FROM up_users WHERE strpos(attributes, '\u0000') > 0 LOOP
    BEGIN
      PERFORM r.attributes::jsonb;
    EXCEPTION WHEN others THEN
      RAISE EXCEPTION 'the attributes of user % cannot be stored as jsonb (%): remove the character U+0000 from them, then start Castellan again', r.id, SQLERRM;
    END;
  END LOOP;
END $$;

ALTER TABLE up_users ADD COLUMN attributes_jsonb JSONB GENERATED ALWAYS AS (attributes::jsonb) STORED;
