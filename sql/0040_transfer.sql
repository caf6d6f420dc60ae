-- Transfers to the city's lines: the targets staff publish (every save is a new version;
-- the newest is in service), the capacity slots counted across controllers, and one
-- row per transfer attempt for the dashboard.

CREATE TABLE transfer_target_versions (
    id          serial PRIMARY KEY,
    body        jsonb NOT NULL,               -- TargetSet.to_dict(): {"targets": [{name, number, ...}]}
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT '',
    comment     text NOT NULL DEFAULT ''
);

-- One row per caller being transferred (ringing or talking). Claimed in a transaction
-- holding an advisory lock per target, so concurrent claims never over-book it;
-- renewed by the controller that follows the channel, lapsing otherwise; reconciled
-- against Asterisk's channels when a controller (re)connects.
CREATE TABLE transfer_slots (
    channel_id  text PRIMARY KEY,             -- the caller's channel (one transfer at a time)
    node        text NOT NULL,                -- the Asterisk holding it (its entity id)
    target      text NOT NULL,
    attempt_id  uuid NOT NULL,
    call_id     uuid NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX transfer_slots_target ON transfer_slots (target, expires_at);
CREATE INDEX transfer_slots_node ON transfer_slots (node);

-- Every attempt, refused ones included (capacity), with ring and talk time. Written off
-- the call path, idempotently (upsert by id guarded by rev).
CREATE TABLE transfer_attempts (
    id            uuid PRIMARY KEY,
    call_id       uuid NOT NULL,              -- calls.id (no foreign key: records arrive apart)
    channel_id    text NOT NULL,
    node          text NOT NULL DEFAULT '',   -- the flow node that transferred
    target        text NOT NULL,
    number        text NOT NULL DEFAULT '',   -- as dialled ('' when refused before dialling)
    endpoint      text NOT NULL DEFAULT '',
    started_at    timestamptz NOT NULL,
    answered_at   timestamptz,
    ended_at      timestamptz,
    outcome       text,                       -- answered, busy, no_answer, failed, capacity,
                                              -- trunk_capacity, abandoned, ended_unseen
    ring_seconds  double precision,
    talk_seconds  double precision,
    rev           integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfer_attempts_started ON transfer_attempts (started_at);
CREATE INDEX transfer_attempts_target ON transfer_attempts (target, started_at);
CREATE INDEX transfer_attempts_call ON transfer_attempts (call_id);
