"""Flow versions in PostgreSQL: save drafts, publish, roll back.

Publishing validates the flow first: a flow that fails validation never
replaces the one in service. A successful publish sends ``NOTIFY flow_published``
so every controller switches for its next call, with no restart; calls already
in progress finish on the version they started with.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ivr.flow.errors import FlowValidationError
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow
from ivr.store import audit
from ivr.transfer import store as transfer_store
from ivr.transfer.model import unknown_targets

CHANNEL = "flow_published"


class FlowVersionError(Exception):
    """The requested version does not exist."""


@dataclass(frozen=True)
class FlowVersion:
    id: int
    name: str
    status: str
    comment: str
    created_at: datetime
    created_by: str
    published_at: datetime | None
    published_by: str | None
    source: str

    def flow(self) -> Flow:
        return load_flow(self.source, f"version {self.id}")


def _version(row: asyncpg.Record) -> FlowVersion:
    return FlowVersion(**{k: row[k] for k in FlowVersion.__dataclass_fields__})


async def save_draft(conn: asyncpg.Connection, source: str, author: str, comment: str = "") -> int:
    """Store ``source`` as a new draft; returns its version number. Drafts may be invalid."""
    version: int = await conn.fetchval(
        "INSERT INTO flow_versions (source, created_by, comment) VALUES ($1, $2, $3) RETURNING id",
        source,
        author,
        comment,
    )
    return version


async def publish(
    conn: asyncpg.Connection,
    version: int,
    actor: str,
    *,
    transfer_targets: Collection[str] | None = None,
) -> Flow:
    """Put ``version`` (a draft, or an earlier version: a rollback) into service.

    Raises ``FlowError`` if it does not validate, or names a transfer target that is
    not one: the published set's, else ``transfer_targets`` (the configuration's;
    None: not checked unless a set is published). Nothing changes then.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT source, comment FROM flow_versions WHERE id = $1 FOR UPDATE", version
        )
        if row is None:
            raise FlowVersionError(f"flow version {version} does not exist")
        flow = load_flow(row["source"], f"version {version}")  # raises FlowError
        known = await transfer_store.known_names(conn, transfer_targets)
        issues = [] if known is None else unknown_targets(flow, known)
        if issues:
            raise FlowValidationError(issues, f"version {version}")
        before = await conn.fetchrow(
            "SELECT id, name FROM flow_versions WHERE status = 'published'"
        )
        await conn.execute(
            "UPDATE flow_versions SET status = 'retired' WHERE status = 'published' AND id <> $1",
            version,
        )
        await conn.execute(
            "UPDATE flow_versions SET status = 'published', name = $2, published_at = now(), "
            "published_by = $3 WHERE id = $1",
            version,
            flow.name,
            actor,
        )
        await audit.record(
            conn,
            actor,
            "flow.publish",
            f"flow:{version}",
            {"version": before["id"], "name": before["name"]} if before else None,
            {"version": version, "name": flow.name, "comment": row["comment"]},
        )
        # Delivered at commit, so listeners never see a version that is not there yet.
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(version))
    return flow


async def published(conn: asyncpg.Connection) -> FlowVersion | None:
    row = await conn.fetchrow("SELECT * FROM flow_versions WHERE status = 'published'")
    return _version(row) if row else None


async def get(conn: asyncpg.Connection, version: int) -> FlowVersion:
    row = await conn.fetchrow("SELECT * FROM flow_versions WHERE id = $1", version)
    if row is None:
        raise FlowVersionError(f"flow version {version} does not exist")
    return _version(row)


async def history(conn: asyncpg.Connection, limit: int = 50) -> list[FlowVersion]:
    rows = await conn.fetch("SELECT * FROM flow_versions ORDER BY id DESC LIMIT $1", limit)
    return [_version(r) for r in rows]
