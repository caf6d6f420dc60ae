-- Lockout policy (admin-web/README.md): failures count per (login ID, address) and per
-- address; an account tried from many addresses is not locked but raises an audit
-- alert, at most once per window. This row says when the last alert was raised, so
-- that requests from different addresses agree on "once" without a shared lock.
CREATE TABLE admin_login_alerts (
    login_id    text PRIMARY KEY,       -- as typed (lower-cased), like admin_login_failures
    alerted_at  timestamptz NOT NULL DEFAULT now()
);

