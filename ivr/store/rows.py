"""What a call record is: the rows of ``calls`` and ``call_events``, the SQL that
stores them, and the JSON lines they become in the local spool (and dead letters).

The writer that gets them there, off the call path, is :mod:`ivr.store.calls`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class CallRow:
    """A snapshot of a call; a snapshot replaces a stored one of the same id unless that
    one has a higher ``rev`` (so a late replay of an older snapshot changes nothing)."""

    id: uuid.UUID
    channel_id: str
    caller: str
    dialled: str
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    digits: str = ""
    path: tuple[str, ...] = ()
    last_node: str | None = None
    outcome: str | None = None
    flow_version: int | None = None
    rev: int = 0
    flow_digest: str = ""
    note: str = ""  # why the writer cleared a reference (stored as record_note)


@dataclass(frozen=True)
class EventRow:
    call_id: uuid.UUID
    seq: int
    at: datetime
    kind: str
    node: str
    detail: dict[str, str] = field(default_factory=dict)


Record = CallRow | EventRow

_UPSERT_CALL = """
INSERT INTO calls (id, channel_id, caller, dialled, started_at, answered_at, ended_at,
                   digits, path, last_node, outcome, flow_version, rev, flow_digest, record_note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (id) DO UPDATE SET
    answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at, digits = EXCLUDED.digits,
    path = EXCLUDED.path, last_node = EXCLUDED.last_node, outcome = EXCLUDED.outcome,
    flow_version = EXCLUDED.flow_version, rev = EXCLUDED.rev,
    flow_digest = EXCLUDED.flow_digest, record_note = EXCLUDED.record_note
WHERE calls.rev <= EXCLUDED.rev
"""
_INSERT_EVENT = """
INSERT INTO call_events (call_id, seq, at, kind, node, detail)
VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING
"""


_TYPES: dict[type, str] = {CallRow: "call", EventRow: "event"}


def to_json(rec: Record, **extra: str) -> str:
    d = asdict(rec)
    d["type"] = _TYPES[type(rec)]
    return json.dumps(d | extra, default=str, ensure_ascii=False)


def from_json(line: str) -> Record:
    d: dict[str, Any] = json.loads(line)
    kind = d.pop("type")
    d.pop("error", None)  # dead letters carry the reason; they can be fed back as they are
    for key in ("started_at", "answered_at", "ended_at", "at"):
        if d.get(key):
            d[key] = datetime.fromisoformat(d[key])
    if kind == "call":
        d["id"] = uuid.UUID(d["id"])
        d["path"] = tuple(d["path"])
        return CallRow(**d)
    if kind != "event":
        raise ValueError(f"unknown record type {kind!r}")
    d["call_id"] = uuid.UUID(d["call_id"])
    return EventRow(**d)


def _args(rec: Record) -> tuple[Any, ...]:
    if isinstance(rec, CallRow):
        return (
            *(rec.id, rec.channel_id, rec.caller, rec.dialled, rec.started_at, rec.answered_at),
            *(rec.ended_at, rec.digits, list(rec.path), rec.last_node, rec.outcome),
            *(rec.flow_version, rec.rev, rec.flow_digest, rec.note),
        )
    detail = json.dumps(rec.detail, ensure_ascii=False)
    return (rec.call_id, rec.seq, rec.at, rec.kind, rec.node, detail)


def _sql(rec: Record) -> str:
    return _UPSERT_CALL if isinstance(rec, CallRow) else _INSERT_EVENT


async def execute(conn: asyncpg.Connection, rec: Record) -> None:
    """Store one record; idempotent (a call row upserted unless a higher ``rev`` is
    stored, an event keyed by (call, seq))."""
    await conn.execute(_sql(rec), *_args(rec))


async def execute_all(conn: asyncpg.Connection, records: list[Record]) -> None:
    """Store records in their order, each run of one kind pipelined in one round trip
    (``executemany``): a round trip per record cost the controller a seventh of its CPU
    at 600 calls (``make bench --profile``). Call inside a transaction: a refusal
    anywhere fails the whole batch, as record-by-record writing would."""
    start = 0
    while start < len(records):
        end = start + 1
        while end < len(records) and type(records[end]) is type(records[start]):
            end += 1
        if end - start == 1:
            await execute(conn, records[start])
        else:
            sql = _sql(records[start])
            await conn.executemany(sql, [_args(r) for r in records[start:end]])
        start = end
