-- A caller who withheld the number (184, presentation restricted) is recorded as
-- withheld everywhere (docs/personal-data.md), also in Asterisk's CEL rows, which carry
-- CALLERID(num) — the number the trunk passes anyway. The controller records such a
-- call with caller '' (ivr/call/context.py); whichever of the two arrives first, the
-- CEL rows of that channel and of the legs linked to it lose the number:
--   * a CEL row of a channel already recorded as withheld is stored without it
--     (BEFORE triggers);
--   * at commit, a CEL row and a withheld call's record each look for the other
--     (deferred constraint triggers: the loader and the recorder write concurrently,
--     and neither sees the other's rows before they are committed);
--   * the retention job sweeps the last days once a day for what two commits at the
--     very same moment could still have missed (ivr/retention/store.py).
-- Calls no controller ever saw (held, then apologised to) keep what CEL says: Asterisk's
-- CEL line has no presentation field.
-- Also: keys typed into a collect node are no longer kept in calls.digits (the engine
-- keeps 'N' per digit); earlier records are cleaned here, every run of 7 or more digits
-- (a phone number; no menu path is that long) becoming one 'N'.

-- VOLATILE (plpgsql): each call reads what is committed now, not the statement's snapshot.
CREATE FUNCTION withheld_channel(channel text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM calls WHERE channel_id = channel AND caller = '');
END
$$;

CREATE FUNCTION cel_events_withheld() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF withheld_channel(NEW.linkedid) OR withheld_channel(NEW.uniqueid) THEN
        NEW.cid_num := '';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER cel_events_withheld BEFORE INSERT OR UPDATE ON cel_events
    FOR EACH ROW WHEN (NEW.cid_num <> '') EXECUTE FUNCTION cel_events_withheld();

CREATE FUNCTION cel_calls_withheld() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF withheld_channel(NEW.uniqueid) THEN
        NEW.caller := '';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER cel_calls_withheld BEFORE INSERT OR UPDATE ON cel_calls
    FOR EACH ROW WHEN (NEW.caller <> '') EXECUTE FUNCTION cel_calls_withheld();

-- The CEL rows of a withheld channel lose the number (returns nothing).
CREATE FUNCTION withheld_cel_blank(channel text) RETURNS void LANGUAGE sql AS $$
    UPDATE cel_events SET cid_num = ''
    WHERE (linkedid = channel OR uniqueid = channel) AND cid_num <> '';
    UPDATE cel_calls SET caller = '' WHERE uniqueid = channel AND caller <> '';
$$;

CREATE FUNCTION calls_withheld_cel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM withheld_cel_blank(NEW.channel_id);
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER calls_withheld_cel AFTER INSERT OR UPDATE OF caller ON calls
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.caller = '') EXECUTE FUNCTION calls_withheld_cel();

CREATE FUNCTION cel_withheld_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'cel_events' THEN
        IF withheld_channel(NEW.linkedid) THEN
            PERFORM withheld_cel_blank(NEW.linkedid);
        ELSIF withheld_channel(NEW.uniqueid) THEN
            PERFORM withheld_cel_blank(NEW.uniqueid);
        END IF;
    ELSIF withheld_channel(NEW.uniqueid) THEN
        PERFORM withheld_cel_blank(NEW.uniqueid);
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER cel_events_withheld_at_commit AFTER INSERT ON cel_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.cid_num <> '') EXECUTE FUNCTION cel_withheld_at_commit();
CREATE CONSTRAINT TRIGGER cel_calls_withheld_at_commit AFTER INSERT OR UPDATE ON cel_calls
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.caller <> '') EXECUTE FUNCTION cel_withheld_at_commit();

-- What is already stored.
SELECT withheld_cel_blank(c.channel_id) FROM calls c WHERE c.caller = '';
UPDATE calls SET digits = regexp_replace(digits, '[0-9]{7,}', 'N', 'g')
WHERE digits ~ '[0-9]{7,}';
