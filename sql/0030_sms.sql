-- SMS: the templates staff publish (every save is a new version; the newest is in
-- service), the outbox (one row per request, sent exactly once), and the blocklist.

CREATE TABLE sms_template_versions (
    id          serial PRIMARY KEY,
    body        jsonb NOT NULL,               -- TemplateSet.to_dict(): {"templates": {name: text}}
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT '',
    comment     text NOT NULL DEFAULT ''
);

CREATE TABLE sms_outbox (
    id              uuid PRIMARY KEY,         -- uuid5 of (call_id, node): also the gateway tag
    call_id         uuid NOT NULL,
    node            text NOT NULL,
    template        text NOT NULL,
    number          text NOT NULL,            -- 11-digit national form, 09012345678
    body            text NOT NULL,            -- as rendered when the caller asked
    parts           integer NOT NULL,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed')),
    reason          text NOT NULL DEFAULT '', -- why it failed (or what is known of delivery)
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claim           uuid,                     -- the worker's claim while status = 'sending'
    claimed_until   timestamptz,              -- after this a 'sending' row is taken again
    check_first     boolean NOT NULL DEFAULT false,  -- an earlier send's result is unknown:
                                              -- look it up by tag before any resend
    gateway         text NOT NULL DEFAULT '',
    provider_id     text,
    provider_status text NOT NULL DEFAULT '',
    carrier         text NOT NULL DEFAULT '',
    next_poll_at    timestamptz,              -- delivery result asked for then (NULL: no more)
    requested_at    timestamptz NOT NULL,     -- when the caller asked (spooled requests keep it)
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    final_at        timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (call_id, node)
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX sms_outbox_poll ON sms_outbox (next_poll_at) WHERE status = 'sent';
CREATE INDEX sms_outbox_number ON sms_outbox (number, requested_at);
CREATE INDEX sms_outbox_requested ON sms_outbox (requested_at DESC);
CREATE INDEX sms_outbox_provider ON sms_outbox (provider_id) WHERE provider_id IS NOT NULL;

CREATE TABLE sms_blocklist (
    number      text PRIMARY KEY,             -- 11-digit national form
    reason      text NOT NULL DEFAULT '',
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
