-- Admin site accounts, their server-side sessions and failed login attempts.
CREATE TABLE admin_accounts (
    id                    bigserial PRIMARY KEY,
    login_id              text NOT NULL UNIQUE CHECK (login_id ~ '^[a-z0-9][a-z0-9._-]{2,31}$'),
    display_name          text NOT NULL DEFAULT '',
    role                  text NOT NULL CHECK (role IN ('administrator', 'operator', 'viewer')),
    password_hash         text NOT NULL,               -- Argon2id, PHC string
    must_change_password  boolean NOT NULL DEFAULT true,-- issued or reset by an administrator
    suspended_at          timestamptz,                 -- NULL = active
    expires_on            date,                        -- last day the account may log in (Asia/Tokyo)
    totp_secret           text,                        -- base32; NULL = no second factor enrolled
    totp_last_step        bigint,                      -- last accepted 30 s step: a code works once
    last_login_at         timestamptz,
    last_login_ip         inet,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- The cookie carries a random token; only its SHA-256 is stored, so a leaked
-- table or backup does not hand out live sessions.
CREATE TABLE admin_sessions (
    token_hash     bytea PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES admin_accounts (id) ON DELETE CASCADE,
    stage          text NOT NULL CHECK (stage IN ('mfa', 'full')),  -- mfa = password ok, code pending
    csrf_token     text NOT NULL,
    pending_totp   text,                              -- secret shown during enrolment, not yet confirmed
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    ip             inet,
    user_agent     text NOT NULL DEFAULT ''
);
CREATE INDEX admin_sessions_account ON admin_sessions (account_id);
CREATE INDEX admin_sessions_last_seen ON admin_sessions (last_seen_at);

-- Failed attempts, kept briefly, counted per login ID and per source address.
CREATE TABLE admin_login_failures (
    at        timestamptz NOT NULL DEFAULT now(),
    login_id  text NOT NULL,        -- as typed (lower-cased), even when no such account exists
    ip        inet NOT NULL
);
CREATE INDEX admin_login_failures_login ON admin_login_failures (login_id, at);
CREATE INDEX admin_login_failures_ip ON admin_login_failures (ip, at);
