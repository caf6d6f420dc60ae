-- Each snapshot of a call carries a revision; a replayed older snapshot never
-- overwrites a newer one (the recorder's upsert only applies rev >= stored rev).
ALTER TABLE calls ADD COLUMN rev integer NOT NULL DEFAULT 0;
