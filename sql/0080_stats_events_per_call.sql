-- A call's refresh read the events of every call. stats_compute joined the
-- stats_call_events view laterally on (cc.c).id, and PostgreSQL does not push a lateral
-- reference into a GROUP BY subquery: each refresh (every write of a call's record, every
-- CEL summary) aggregated the whole of call_events. With 5.6 million events that was
-- 6-13 s a call; in `make bench` it kept PostgreSQL busy from 400 calls at once.
-- Called as a function, the id is a parameter, the filter reaches call_events' primary
-- key, and the same refresh takes about 2 ms. The view stays for stats_rebuild().
CREATE FUNCTION stats_call_events_of(id uuid) RETURNS stats_call_events
LANGUAGE sql STABLE STRICT AS $$
SELECT v FROM stats_call_events v WHERE v.call_id = id
$$;

CREATE OR REPLACE FUNCTION stats_compute(keys text[]) RETURNS SETOF stats_call
LANGUAGE sql STABLE AS $$
SELECT f.*
FROM unnest(keys) AS k(key)
LEFT JOIN LATERAL (SELECT c FROM calls c WHERE c.channel_id = k.key
                   ORDER BY c.started_at, c.id LIMIT 1) cc ON true
LEFT JOIN cel_calls cel ON cel.uniqueid = k.key
CROSS JOIN LATERAL stats_fact(k.key, cc.c, cel, stats_call_events_of((cc.c).id)) f
WHERE (cc.c).id IS NOT NULL OR cel.uniqueid IS NOT NULL
$$;

COMMENT ON VIEW stats_call_events IS
    'What a call''s events say, per call. For one call use stats_call_events_of(id): '
    'a join on this view aggregates every call''s events first.';
