-- Two-step login is required for administrators by default (issue 15, S2-S4). Sites
-- whose policy nobody has edited (still the 0012 default: [] and updated_by '') get
-- ["administrator"]; a policy an administrator chose is left as it is. The change is
-- audit-logged like an edit in the site. Recovery when the only administrator loses the
-- device: `python -m ivr_admin reset-totp LOGIN_ID` (docs/operations.md).
WITH changed AS (
    UPDATE admin_settings
       SET value = '["administrator"]', updated_at = now(), updated_by = 'migration 0070'
     WHERE key = 'totp_required_roles' AND value = '[]'::jsonb AND updated_by = ''
    RETURNING 1
)
INSERT INTO admin_audit (actor, action, target, before, after)
SELECT '', 'totp_policy.update', 'totp_required_roles', '{"roles": []}',
       '{"roles": ["administrator"], "via": "migration 0070: required by default"}'
  FROM changed;
