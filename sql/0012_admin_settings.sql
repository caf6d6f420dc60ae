-- Security settings edited in the admin site (the config file holds the rest).
CREATE TABLE admin_settings (
    key         text PRIMARY KEY,          -- allowlist, totp_required_roles
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT ''
);
INSERT INTO admin_settings (key, value) VALUES
    ('allowlist', '[]'),              -- [{"cidr": "203.0.113.0/24", "note": "本庁舎"}]
    ('totp_required_roles', '[]');    -- e.g. ["administrator"]
