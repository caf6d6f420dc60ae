-- A call keeps the digest of the flow source it ran, so per-version figures can
-- group it even when its version number is unknown to this database; a reference
-- the recorder had to clear on write says why in record_note.
ALTER TABLE calls ADD COLUMN flow_digest text NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN record_note text NOT NULL DEFAULT '';
-- One record per call: a call taken over by another controller continues its row.
CREATE INDEX calls_channel ON calls (channel_id);
