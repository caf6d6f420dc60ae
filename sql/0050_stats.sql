-- Figures for staff (F7; docs/architecture.md, "Figures for staff"): the dashboard, the
-- per-menu funnel, the call log and the reports read only what is kept here, never scans
-- of the call tables.
--
--   calls + call_events (the controller's records) ──┐
--   cel_calls (Asterisk's own log, loaded from CEL) ──┴─▶ stats_call: one row of facts per
--       inbound call, recomputed by triggers whenever one of its sources changes
--       ─▶ stats_hourly, stats_daily, stats_funnel: counters moved by the difference
--          between the call's stored facts and its new ones, so a replayed spool or a
--          repeated write (the same facts again) moves nothing.
--   sms_outbox ─▶ stats_sms_daily (requests by status, per day of the request)
--
-- Every change sends NOTIFY ivr_stats (delivered at commit); the admin site LISTENs and
-- pushes new figures to the dashboards that are open.

-- The calendar state when the call began (open, closed, holiday, before_service,
-- after_service). The session writes it in its first `enter` event's detail
-- (`calendar`); ivr.stats.calendar_fill fills what is still missing from the calendar
-- versions that were in service then.
ALTER TABLE calls ADD COLUMN calendar_state text;
-- Calls still open: the in-progress count and the CEL closer read these few rows.
CREATE INDEX calls_unfinished ON calls (started_at) WHERE ended_at IS NULL;
-- The funnel's drill-down (what happened at one node in a period) reads events by node,
-- kind and time; this index supersedes call_events_node (node, kind), its prefix.
CREATE INDEX call_events_node_kind_at ON call_events (node, kind, at);
DROP INDEX call_events_node;

-- Asterisk's channel events, as cel_custom wrote them (asterisk-conf/cel_custom.conf),
-- loaded by ivr.stats.cel. Loading the same line twice changes nothing.
CREATE TABLE cel_events (
    linkedid   text NOT NULL,
    eventtype  text NOT NULL,              -- CHAN_START, CHAN_END, ANSWER, APP_START, LINKEDID_END
    eventtime  timestamptz NOT NULL,
    uniqueid   text NOT NULL,              -- the channel; ARI's channel id
    channame   text NOT NULL DEFAULT '',   -- PJSIP/trunk-00000012
    context    text NOT NULL DEFAULT '',
    exten      text NOT NULL DEFAULT '',
    cid_num    text NOT NULL DEFAULT '',
    appname    text NOT NULL DEFAULT '',
    appdata    text NOT NULL DEFAULT '',
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (linkedid, eventtype, eventtime, uniqueid)
);

-- How far the loader has read each CEL file (a restart goes on from there; reading a
-- file again from its start is harmless, only slower).
CREATE TABLE cel_position (
    path        text PRIMARY KEY,
    inode       bigint NOT NULL,
    "offset"    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per inbound call as Asterisk saw it: the trunk channel created by the inbound
-- INVITE (CHAN_START of PJSIP/trunk-..., a channel that starts its own linkedid, in the
-- trunk's context). Its uniqueid is the channel id the controller records (calls.channel_id).
CREATE TABLE cel_calls (
    uniqueid        text PRIMARY KEY,
    started_at      timestamptz NOT NULL,   -- CHAN_START
    answered_at     timestamptz,
    ended_at        timestamptz,            -- CHAN_END: the call is over, whoever ran it
    caller          text NOT NULL DEFAULT '',
    dialled         text NOT NULL DEFAULT '',
    apology         boolean NOT NULL DEFAULT false,  -- the dialplan played system/fallback
    busy            boolean NOT NULL DEFAULT false,  -- ... system/busy (trunk full)
    transferred     boolean NOT NULL DEFAULT false,  -- another channel of the call answered
    calendar_state  text                    -- for calls no controller saw (ivr.stats.calendar_fill)
);

-- A controller's pulse, with what it knows of Asterisk and the trunk (ivr.stats.heartbeat).
CREATE TABLE stats_heartbeat (
    source      text PRIMARY KEY,          -- controller@<host>
    at          timestamptz NOT NULL,
    started_at  timestamptz NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);

-- The facts of one call, derived (never written by hand): stats_compute() below.
CREATE TABLE stats_call (
    channel_id      text PRIMARY KEY,
    call_id         uuid,                  -- calls.id; NULL: no controller ever saw the call
    started_at      timestamptz NOT NULL,  -- Asterisk's CHAN_START when known, else the record's
    ended_at        timestamptz,
    hour            timestamp NOT NULL,    -- started_at in Japan time, to the hour
    caller          text NOT NULL,
    dialled         text NOT NULL,
    calendar_state  text,                  -- NULL until known
    class           text NOT NULL CHECK (class IN ('in_progress', 'ivr_only', 'transferred',
                        'transfer_failed', 'menu_hangup', 'apology', 'busy', 'held_hangup',
                        'error')),
    outcome         text,                  -- the record's outcome
    transfer        text,                  -- answered | failed | NULL (none tried)
    sms             boolean NOT NULL,      -- an SMS was accepted for sending
    unseen          boolean NOT NULL,      -- counted from CEL only: no controller saw it
    flow_group      text,                  -- v<version>, or d<digest> when the version is unknown
    nodes           text[] NOT NULL,       -- distinct nodes reached
    options         text[] NOT NULL,       -- distinct node:key choices accepted
    timeouts        text[] NOT NULL,       -- distinct nodes where a wait timed out
    hangup_node     text                   -- where the caller hung up
);
-- The call log pages and the export stream in this order (newest first / oldest first).
CREATE INDEX stats_call_started ON stats_call (started_at, channel_id);
CREATE INDEX stats_call_class ON stats_call (class, started_at);
CREATE INDEX stats_call_in_progress ON stats_call (started_at) WHERE class = 'in_progress';
CREATE INDEX stats_call_transfer ON stats_call (started_at) WHERE transfer IS NOT NULL;
CREATE INDEX stats_call_sms ON stats_call (started_at) WHERE sms;
CREATE INDEX stats_call_no_calendar ON stats_call (started_at) WHERE calendar_state IS NULL;

-- Counters. Dimensions are never NULL ('' = unknown / none) so that they can be keys.
CREATE TABLE stats_hourly (
    hour            timestamp NOT NULL,
    calendar_state  text NOT NULL,
    class           text NOT NULL,
    sms             boolean NOT NULL,
    unseen          boolean NOT NULL,
    n               integer NOT NULL,
    PRIMARY KEY (hour, calendar_state, class, sms, unseen)
);
CREATE TABLE stats_daily (
    day             date NOT NULL,
    calendar_state  text NOT NULL,
    class           text NOT NULL,
    sms             boolean NOT NULL,
    unseen          boolean NOT NULL,
    flow_group      text NOT NULL,
    n               integer NOT NULL,
    PRIMARY KEY (day, calendar_state, class, sms, unseen, flow_group)
);
CREATE INDEX stats_daily_group ON stats_daily (flow_group, day);
-- Per flow (version or digest), node and day: callers who reached the node ('reached'),
-- chose key `detail` there ('key'), timed out there ('timeout'), hung up there ('hangup').
CREATE TABLE stats_funnel (
    day         date NOT NULL,
    flow_group  text NOT NULL,
    node        text NOT NULL,
    metric      text NOT NULL,
    detail      text NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (flow_group, day, node, metric, detail)
);
CREATE INDEX stats_funnel_day ON stats_funnel (day, metric);
CREATE TABLE stats_sms_daily (
    day     date NOT NULL,
    status  text NOT NULL,
    n       integer NOT NULL,
    PRIMARY KEY (day, status)
);

-- What a call's events say, per call (a view: the per-call lookup pushes call_id down).
CREATE VIEW stats_call_events AS
SELECT call_id,
       coalesce(array_agg(DISTINCT node || ':' || (detail ->> 'digit'))
                FILTER (WHERE kind = 'key' AND detail ? 'digit'), '{}') AS options,
       coalesce(array_agg(DISTINCT node) FILTER (WHERE kind = 'timeout'), '{}') AS timeouts,
       (array_agg(detail ->> 'calendar' ORDER BY seq)
                FILTER (WHERE kind = 'enter' AND detail ? 'calendar'))[1] AS calendar,
       CASE WHEN bool_or(kind = 'transfer' AND detail ->> 'outcome' = 'answered') THEN 'answered'
            WHEN bool_or(kind = 'transfer') THEN 'failed' END AS transfer,
       coalesce(bool_or(kind = 'sms' AND detail ->> 'outcome' IN ('queued', 'sent', 'delivered')),
                false) AS sms
FROM call_events
GROUP BY call_id;

-- The facts of one call from its sources; the only place that decides a call's class.
-- While a call is in progress only its start counts (and the calendar state of its first
-- step): its events are read once it has ended, so the triggers need not follow each one.
CREATE FUNCTION stats_fact(key text, c calls, cel cel_calls, e stats_call_events)
RETURNS stats_call LANGUAGE sql STABLE AS $$
SELECT ROW(
    key,
    c.id,
    s.started_at,
    s.ended_at,
    date_trunc('hour', s.started_at AT TIME ZONE 'Asia/Tokyo'),
    coalesce(nullif(c.caller, ''), cel.caller, ''),
    coalesce(nullif(c.dialled, ''), cel.dialled, ''),
    coalesce(c.calendar_state, e.calendar, cel.calendar_state),
    CASE
        WHEN NOT s.ended THEN 'in_progress'
        WHEN coalesce(cel.apology, false) OR c.outcome = 'apology' THEN 'apology'
        WHEN coalesce(cel.busy, false) OR c.outcome IN ('busy', 'trunk_busy') THEN 'busy'
        WHEN s.transfer = 'answered' THEN 'transferred'
        WHEN c.id IS NULL THEN 'held_hangup'
        WHEN c.outcome = 'error' THEN 'error'
        WHEN s.transfer IS NOT NULL THEN 'transfer_failed'
        WHEN coalesce(c.outcome, 'caller_hangup') = 'caller_hangup'
             AND cardinality(s.options) = 0 THEN 'menu_hangup'
        ELSE 'ivr_only'
    END,
    c.outcome,
    s.transfer,
    s.ended AND coalesce(e.sms, false),
    c.id IS NULL,
    CASE WHEN c.flow_version IS NOT NULL THEN 'v' || c.flow_version
         WHEN c.flow_digest <> '' THEN 'd' || c.flow_digest END,
    CASE WHEN s.ended THEN ARRAY(SELECT DISTINCT n FROM unnest(c.path) n ORDER BY n)
         ELSE '{}' END,
    s.options,
    CASE WHEN s.ended THEN coalesce(e.timeouts, '{}') ELSE '{}' END,
    CASE WHEN s.ended AND c.outcome = 'caller_hangup' THEN c.last_node END
)::stats_call
FROM (SELECT t.*,
             CASE WHEN NOT t.ended THEN NULL
                  WHEN c.outcome = 'transferred' OR e.transfer = 'answered'
                       OR coalesce(cel.transferred, false) THEN 'answered'
                  WHEN e.transfer IS NOT NULL THEN 'failed' END AS transfer,
             CASE WHEN t.ended THEN coalesce(e.options, '{}') ELSE '{}' END AS options
      FROM (SELECT coalesce(cel.started_at, c.started_at) AS started_at,
                   coalesce(c.ended_at, cel.ended_at) AS ended_at,
                   coalesce(c.ended_at, cel.ended_at) IS NOT NULL AS ended) t) s
$$;

-- The facts of the calls on these channels, as their sources say now.
CREATE FUNCTION stats_compute(keys text[]) RETURNS SETOF stats_call LANGUAGE sql STABLE AS $$
SELECT f.*
FROM unnest(keys) AS k(key)
LEFT JOIN LATERAL (SELECT c FROM calls c WHERE c.channel_id = k.key
                   ORDER BY c.started_at, c.id LIMIT 1) cc ON true
LEFT JOIN cel_calls cel ON cel.uniqueid = k.key
LEFT JOIN LATERAL (SELECT v FROM stats_call_events v WHERE v.call_id = (cc.c).id) ev ON true
CROSS JOIN LATERAL stats_fact(k.key, cc.c, cel, ev.v) f
WHERE (cc.c).id IS NOT NULL OR cel.uniqueid IS NOT NULL
$$;

-- What one call's facts add to the funnel.
CREATE FUNCTION stats_funnel_items(nodes text[], options text[], timeouts text[], hangup text)
RETURNS TABLE (node text, metric text, detail text) LANGUAGE sql IMMUTABLE AS $$
SELECT n, 'reached', '' FROM unnest(nodes) n
UNION ALL SELECT split_part(o, ':', 1), 'key', split_part(o, ':', 2) FROM unnest(options) o
UNION ALL SELECT t, 'timeout', '' FROM unnest(timeouts) t
UNION ALL SELECT h, 'hangup', '' FROM unnest(ARRAY[hangup]) h WHERE h IS NOT NULL
$$;

-- Move the counters from the facts in `gone` to those in `came` (rows in a fixed order:
-- concurrent writers take the counter rows' locks in the same order).
CREATE FUNCTION stats_apply(gone stats_call[], came stats_call[]) RETURNS void
LANGUAGE sql AS $$
INSERT INTO stats_hourly AS t (hour, calendar_state, class, sms, unseen, n)
SELECT (x.f).hour, coalesce((x.f).calendar_state, ''), (x.f).class, (x.f).sms, (x.f).unseen,
       sum(x.d)
FROM (SELECT g AS f, -1 AS d FROM unnest(gone) g UNION ALL SELECT c, 1 FROM unnest(came) c) x
GROUP BY 1, 2, 3, 4, 5 HAVING sum(x.d) <> 0 ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (hour, calendar_state, class, sms, unseen) DO UPDATE SET n = t.n + EXCLUDED.n;

INSERT INTO stats_daily AS t (day, calendar_state, class, sms, unseen, flow_group, n)
SELECT (x.f).hour::date, coalesce((x.f).calendar_state, ''), (x.f).class, (x.f).sms,
       (x.f).unseen, coalesce((x.f).flow_group, ''), sum(x.d)
FROM (SELECT g AS f, -1 AS d FROM unnest(gone) g UNION ALL SELECT c, 1 FROM unnest(came) c) x
GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(x.d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (day, calendar_state, class, sms, unseen, flow_group)
DO UPDATE SET n = t.n + EXCLUDED.n;

INSERT INTO stats_funnel AS t (day, flow_group, node, metric, detail, n)
SELECT (x.f).hour::date, (x.f).flow_group, m.node, m.metric, m.detail, sum(x.d)
FROM (SELECT g AS f, -1 AS d FROM unnest(gone) g UNION ALL SELECT c, 1 FROM unnest(came) c) x
CROSS JOIN LATERAL stats_funnel_items((x.f).nodes, (x.f).options, (x.f).timeouts,
                                      (x.f).hangup_node) m
WHERE (x.f).flow_group IS NOT NULL AND (x.f).class <> 'in_progress'
GROUP BY 1, 2, 3, 4, 5 HAVING sum(x.d) <> 0 ORDER BY 2, 1, 3, 4, 5
ON CONFLICT (flow_group, day, node, metric, detail) DO UPDATE SET n = t.n + EXCLUDED.n;
$$;

-- Recompute the facts of the calls on these channels and move the counters by the
-- difference. Idempotent: facts that did not change move nothing.
CREATE FUNCTION stats_refresh(keys text[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    wanted text[];
    olds stats_call[];
    news stats_call[];
    gone stats_call[];
    came stats_call[];
BEGIN
    wanted := ARRAY(SELECT DISTINCT k FROM unnest(keys) k WHERE k IS NOT NULL ORDER BY k);
    IF cardinality(wanted) = 0 THEN
        RETURN 0;
    END IF;
    -- One refresh of a call at a time; each statement below then reads what the
    -- refresh before it committed (READ COMMITTED: a new snapshot per statement).
    PERFORM pg_advisory_xact_lock(50, hashtext(k)) FROM unnest(wanted) k;
    news := ARRAY(SELECT n FROM stats_compute(wanted) n ORDER BY n.channel_id);
    olds := ARRAY(SELECT o FROM stats_call o WHERE o.channel_id = ANY (wanted)
                  ORDER BY o.channel_id);
    gone := ARRAY(SELECT o FROM unnest(olds) o
                  WHERE NOT EXISTS (SELECT 1 FROM unnest(news) n WHERE n IS NOT DISTINCT FROM o));
    came := ARRAY(SELECT n FROM unnest(news) n
                  WHERE NOT EXISTS (SELECT 1 FROM unnest(olds) o WHERE o IS NOT DISTINCT FROM n));
    IF cardinality(gone) = 0 AND cardinality(came) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM stats_apply(gone, came);
    DELETE FROM stats_call WHERE channel_id = ANY (ARRAY(SELECT g.channel_id FROM unnest(gone) g));
    INSERT INTO stats_call SELECT * FROM unnest(came);
    PERFORM pg_notify('ivr_stats', 'calls');
    RETURN cardinality(came) + cardinality(gone);
END
$$;

-- Everything again from the sources (after this migration, after a restore, for the
-- bench's seeded data). Set-based; takes the tables' locks for its transaction.
CREATE FUNCTION stats_rebuild() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    LOCK TABLE stats_call, stats_hourly, stats_daily, stats_funnel IN EXCLUSIVE MODE;
    TRUNCATE stats_call, stats_hourly, stats_daily, stats_funnel;
    INSERT INTO stats_call
    SELECT f.*
    FROM (SELECT coalesce(cc.channel_id, cel.uniqueid) AS key, cc.c, cel AS cel
          -- the first record of a channel, as stats_compute() takes it
          FROM (SELECT x.c, x.channel_id
                FROM (SELECT c, c.channel_id, row_number() OVER (
                          PARTITION BY c.channel_id ORDER BY c.started_at, c.id) AS rn
                      FROM calls c) x
                WHERE x.rn = 1) cc
          FULL JOIN cel_calls cel ON cel.uniqueid = cc.channel_id) s
    LEFT JOIN stats_call_events e ON e.call_id = (s.c).id
    CROSS JOIN LATERAL stats_fact(s.key, s.c, s.cel, e) f;
    GET DIAGNOSTICS total = ROW_COUNT;
    INSERT INTO stats_hourly (hour, calendar_state, class, sms, unseen, n)
    SELECT hour, coalesce(calendar_state, ''), class, sms, unseen, count(*)
    FROM stats_call GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO stats_daily (day, calendar_state, class, sms, unseen, flow_group, n)
    SELECT hour::date, coalesce(calendar_state, ''), class, sms, unseen,
           coalesce(flow_group, ''), count(*)
    FROM stats_call GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO stats_funnel (day, flow_group, node, metric, detail, n)
    SELECT f.hour::date, f.flow_group, m.node, m.metric, m.detail, count(*)
    FROM stats_call f
    CROSS JOIN LATERAL stats_funnel_items(f.nodes, f.options, f.timeouts, f.hangup_node) m
    WHERE f.flow_group IS NOT NULL AND f.class <> 'in_progress'
    GROUP BY 1, 2, 3, 4, 5;
    PERFORM pg_notify('ivr_stats', 'rebuild');
    RETURN total;
END
$$;

-- Triggers: a call's facts follow its record, its events and Asterisk's view of it.
CREATE FUNCTION stats_calls_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM stats_refresh(ARRAY[OLD.channel_id]);
    ELSIF TG_OP = 'UPDATE' AND OLD.channel_id <> NEW.channel_id THEN
        PERFORM stats_refresh(ARRAY[OLD.channel_id, NEW.channel_id]);
    ELSE
        PERFORM stats_refresh(ARRAY[NEW.channel_id]);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER calls_stats_insert AFTER INSERT OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION stats_calls_changed();
-- A replayed snapshot identical to the stored one changes nothing: skipped here.
CREATE TRIGGER calls_stats_update AFTER UPDATE ON calls
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION stats_calls_changed();

-- Events arrive before their call's final record: only events of a call that has
-- already ended (a late replay), and the first step's calendar state, change facts.
CREATE FUNCTION stats_events_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_refresh(ARRAY(
        SELECT DISTINCT c.channel_id FROM new_events e JOIN calls c ON c.id = e.call_id
        WHERE c.ended_at IS NOT NULL OR (e.kind = 'enter' AND e.detail ? 'calendar')));
    RETURN NULL;
END
$$;
CREATE TRIGGER call_events_stats AFTER INSERT ON call_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION stats_events_added();

CREATE FUNCTION stats_cel_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_refresh(ARRAY[NEW.uniqueid]);
    RETURN NULL;
END
$$;
CREATE TRIGGER cel_calls_stats_insert AFTER INSERT ON cel_calls
    FOR EACH ROW EXECUTE FUNCTION stats_cel_changed();
CREATE TRIGGER cel_calls_stats_update AFTER UPDATE ON cel_calls
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION stats_cel_changed();

-- The inbound calls among CEL events of these linkedids, summarised into cel_calls.
-- `trunk_prefix` ('PJSIP/trunk-') and `context` ('from-trunk') name the trunk.
CREATE FUNCTION cel_summarise(ids text[], trunk_prefix text, inbound_context text)
RETURNS integer LANGUAGE sql AS $$
WITH calls_seen AS (
    INSERT INTO cel_calls AS t (uniqueid, started_at, answered_at, ended_at, caller, dialled,
                                apology, busy, transferred)
    SELECT s.uniqueid, s.eventtime, a.answered_at, a.ended_at, s.cid_num, s.exten,
           a.apology, a.busy, a.transferred
    FROM cel_events s
    CROSS JOIN LATERAL (
        SELECT min(x.eventtime) FILTER (WHERE x.eventtype = 'ANSWER' AND x.uniqueid = s.uniqueid)
                   AS answered_at,
               min(x.eventtime) FILTER (WHERE x.eventtype = 'CHAN_END' AND x.uniqueid = s.uniqueid)
                   AS ended_at,
               coalesce(bool_or(x.eventtype = 'APP_START' AND x.uniqueid = s.uniqueid
                                AND x.appdata LIKE '%/system/fallback%'), false) AS apology,
               coalesce(bool_or(x.eventtype = 'APP_START' AND x.uniqueid = s.uniqueid
                                AND x.appdata LIKE '%/system/busy%'), false) AS busy,
               coalesce(bool_or(x.eventtype = 'ANSWER' AND x.uniqueid <> s.uniqueid), false)
                   AS transferred
        FROM cel_events x WHERE x.linkedid = s.linkedid
    ) a
    WHERE s.linkedid = ANY (ids) AND s.eventtype = 'CHAN_START' AND s.uniqueid = s.linkedid
      AND s.context = inbound_context AND starts_with(s.channame, trunk_prefix)
    ORDER BY s.uniqueid
    ON CONFLICT (uniqueid) DO UPDATE SET
        started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,
        ended_at = EXCLUDED.ended_at, caller = EXCLUDED.caller, dialled = EXCLUDED.dialled,
        apology = EXCLUDED.apology, busy = EXCLUDED.busy, transferred = EXCLUDED.transferred
    WHERE (t.started_at, t.answered_at, t.ended_at, t.caller, t.dialled, t.apology, t.busy,
           t.transferred) IS DISTINCT FROM
          (EXCLUDED.started_at, EXCLUDED.answered_at, EXCLUDED.ended_at, EXCLUDED.caller,
           EXCLUDED.dialled, EXCLUDED.apology, EXCLUDED.busy, EXCLUDED.transferred)
    RETURNING 1
)
SELECT count(*)::integer FROM calls_seen
$$;

-- SMS requests by status and day (sms_outbox, migration 0030), moved by each statement's
-- old and new rows (statement triggers: one update of the counters per statement, in a
-- fixed order). Updates that leave status and day alone move nothing and notify nobody.
CREATE FUNCTION stats_sms_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_sms_daily AS t (day, status, n)
        SELECT (requested_at AT TIME ZONE 'Asia/Tokyo')::date, status, count(*)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, status) DO UPDATE SET n = t.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_sms_daily AS t (day, status, n)
        SELECT (requested_at AT TIME ZONE 'Asia/Tokyo')::date, status, -count(*)
        FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, status) DO UPDATE SET n = t.n + EXCLUDED.n;
    ELSE
        INSERT INTO stats_sms_daily AS t (day, status, n)
        SELECT day, status, sum(d) FROM (
            SELECT (requested_at AT TIME ZONE 'Asia/Tokyo')::date AS day, status, -1 AS d
            FROM old_rows
            UNION ALL
            SELECT (requested_at AT TIME ZONE 'Asia/Tokyo')::date, status, 1 FROM new_rows) x
        GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
        ON CONFLICT (day, status) DO UPDATE SET n = t.n + EXCLUDED.n;
    END IF;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        PERFORM pg_notify('ivr_stats', 'sms');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION stats_sms_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE stats_sms_daily IN EXCLUSIVE MODE;
    DELETE FROM stats_sms_daily;
    IF to_regclass('sms_outbox') IS NOT NULL THEN
        INSERT INTO stats_sms_daily (day, status, n)
        SELECT (requested_at AT TIME ZONE 'Asia/Tokyo')::date, status, count(*)
        FROM sms_outbox GROUP BY 1, 2;
    END IF;
END
$$;

DO $$
BEGIN
    IF to_regclass('sms_outbox') IS NOT NULL THEN
        CREATE TRIGGER sms_outbox_stats_insert AFTER INSERT ON sms_outbox
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION stats_sms_changed();
        CREATE TRIGGER sms_outbox_stats_update AFTER UPDATE ON sms_outbox
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION stats_sms_changed();
        CREATE TRIGGER sms_outbox_stats_delete AFTER DELETE ON sms_outbox
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION stats_sms_changed();
    END IF;
END
$$;

-- TRUNCATE fires no row triggers: the counters follow it too (tests, a wiped database).
CREATE FUNCTION stats_sources_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_rebuild();
    RETURN NULL;
END
$$;
CREATE TRIGGER calls_stats_truncate AFTER TRUNCATE ON calls
    FOR EACH STATEMENT EXECUTE FUNCTION stats_sources_truncated();
CREATE TRIGGER cel_calls_stats_truncate AFTER TRUNCATE ON cel_calls
    FOR EACH STATEMENT EXECUTE FUNCTION stats_sources_truncated();
CREATE FUNCTION stats_sms_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stats_sms_rebuild();
    PERFORM pg_notify('ivr_stats', 'sms');
    RETURN NULL;
END
$$;
DO $$
BEGIN
    IF to_regclass('sms_outbox') IS NOT NULL THEN
        CREATE TRIGGER sms_outbox_stats_truncate AFTER TRUNCATE ON sms_outbox
            FOR EACH STATEMENT EXECUTE FUNCTION stats_sms_truncated();
    END IF;
END
$$;

-- Calls recorded before this migration.
SELECT stats_rebuild();
SELECT stats_sms_rebuild();
