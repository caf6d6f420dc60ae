-- The calendar staff edit: every save is a new version; the newest is in service.
-- Putting an older calendar back is saving its body again (history stays whole).
CREATE TABLE calendar_versions (
    id          serial PRIMARY KEY,
    body        jsonb NOT NULL,               -- Calendar.to_dict()
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT '',
    comment     text NOT NULL DEFAULT ''
);
