-- sift's walk of a path in a JSON document, for conditions on PostgreSQL (see `filter::sql`):
-- the visits (t, v, d, ord, own, oarr, last) from a start (its JSON type, value, depth, whether
-- it is an element of an array, whether the last one) along the keys of `path`.
--
-- The same recursive CTE written in each condition query made PostgreSQL set up its plan on
-- every execution of that query, although most rows never reach it. As a function it is
-- planned only when called. VOLATILE keeps PostgreSQL from inlining it back into the query.
CREATE FUNCTION castellan_walk(
  start_t TEXT, start_v JSONB, start_d INTEGER, start_oarr BOOLEAN, start_last BOOLEAN, path TEXT[]
) RETURNS TABLE (t TEXT, v JSONB, d INTEGER, ord TEXT, own BOOLEAN, oarr BOOLEAN, last BOOLEAN)
LANGUAGE sql VOLATILE AS $$
  WITH RECURSIVE fw(t, v, d, ord, own, oarr, last) AS (
    SELECT start_t, start_v, start_d, ''::text, TRUE, start_oarr, start_last
    UNION ALL
    SELECT coalesce(jsonb_typeof(s.v), 'undefined'), s.v, s.d, s.ord, s.own, s.oarr, s.last
    FROM fw, LATERAL (
      -- the elements of an array, in order
      SELECT e.value AS v, fw.d AS d, fw.ord || lpad((e.i - 1)::text, 8, '0') AS ord,
             TRUE AS own, TRUE AS oarr, e.i = jsonb_array_length(fw.v) AS last
      FROM jsonb_array_elements(CASE WHEN fw.t = 'array' THEN fw.v ELSE '[]'::jsonb END)
           WITH ORDINALITY AS e(value, i)
      UNION ALL
      -- the next key of the path, read on an object or on an array (missing there)
      SELECT fw.v -> path[fw.d + 1], fw.d + 1,
             CASE WHEN fw.t = 'array' THEN fw.ord || '~' ELSE fw.ord END,
             fw.t = 'object' AND (fw.v -> path[fw.d + 1]) IS NOT NULL, fw.t = 'array', FALSE
      WHERE fw.d < cardinality(path) AND fw.t NOT IN ('null', 'undefined')
    ) AS s
  )
  SELECT fw.t, fw.v, fw.d, fw.ord, fw.own, fw.oarr, fw.last FROM fw
$$;
