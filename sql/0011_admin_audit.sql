-- Who changed what, when and from where; kept for admin.audit_retention_days.
CREATE TABLE admin_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL DEFAULT '',   -- login ID; '' for the system or an unknown visitor
    action    text NOT NULL,              -- e.g. login.success, account.suspend, allowlist.update
    target    text NOT NULL DEFAULT '',   -- what was acted on, e.g. account:tanaka
    before    jsonb,
    after     jsonb,
    ip        inet
);
CREATE INDEX admin_audit_at ON admin_audit (at);
CREATE INDEX admin_audit_actor ON admin_audit (actor, at);
