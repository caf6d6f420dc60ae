-- Call flow versions: drafts, the one in service, and earlier ones to roll back to.
CREATE TABLE flow_versions (
    id            serial PRIMARY KEY,           -- the version number staff see
    name          text NOT NULL DEFAULT '',
    source        text NOT NULL,                -- the flow YAML, as written
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'published', 'retired')),
    comment       text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL DEFAULT '',
    published_at  timestamptz,
    published_by  text
);
-- At most one version is in service.
CREATE UNIQUE INDEX flow_versions_one_published ON flow_versions ((status)) WHERE status = 'published';

ALTER TABLE calls ADD CONSTRAINT calls_flow_version_fk
    FOREIGN KEY (flow_version) REFERENCES flow_versions (id) NOT VALID;
