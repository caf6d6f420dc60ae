"""Publishing a version of a setting staff edit (the calendar, SMS templates,
transfer targets): one transaction that

- serialises publishes of the kind (an advisory lock: there may be no row to lock yet),
- refuses a save based on a version that is no longer the newest (two staff members
  editing at once: the second save never overwrites the first silently),
- validates the new value (nothing is saved when it does not),
- inserts the new version, writes the audit log with before/after values,
- and sends ``NOTIFY`` so every controller picks it up (:mod:`ivr.published.service`).

Each kind's store calls :func:`publish` with its specifics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

from ivr.store import audit

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")
V = TypeVar("V")


@dataclass(frozen=True)
class Versions:
    """Where one kind's versions are kept and how their publishing is announced."""

    table: str  # the versions table (a constant of the kind's store, never user input)
    channel: str  # the NOTIFY channel controllers listen on
    lock: int  # the advisory lock that serialises publishes
    audit_name: str  # audit action ``<name>.publish``, target ``<name>:<version>``


async def publish(
    conn: Conn,
    versions: Versions,
    actor: str,
    base_version: int | None,
    *,
    current: Callable[[], Awaitable[tuple[int | None, T]]],
    stale: Callable[[int | None, T], Exception],
    validate: Callable[[T], None],
    body: str,
    audit_values: Callable[[T], tuple[Mapping[str, Any], Mapping[str, Any]]],
    comment: str = "",
    ip: object | None = None,
) -> int:
    """Save a new version (``body``, its JSON text); returns its number.

    ``current`` reads the version in service and its value; ``stale`` makes the
    exception raised when ``base_version`` is no longer the newest; ``validate``
    raises the kind's refusal, given the value in service; ``audit_values`` gives
    the audit log's before and after values (the versions are added here).
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", versions.lock)
        version, before = await current()
        if version != base_version:
            raise stale(version, before)
        validate(before)
        new: int = await conn.fetchval(
            f"INSERT INTO {versions.table} (body, created_by, comment) "
            "VALUES ($1::jsonb, $2, $3) RETURNING id",
            body,
            actor,
            comment,
        )
        old_values, new_values = audit_values(before)
        name = versions.audit_name
        await audit.record(
            conn,
            actor,
            f"{name}.publish",
            f"{name}:{new}",
            {**old_values, "version": version},
            {**new_values, "version": new},
            ip=ip,
        )
        await conn.execute("SELECT pg_notify($1, $2)", versions.channel, str(new))
    return new


def changes(
    old: Mapping[str, V], new: Mapping[str, V]
) -> tuple[dict[str, V | None], dict[str, V | None]]:
    """The entries (by name) that differ, as they were and as they are now, for the
    audit log: a set of many entries is logged by what changed."""
    changed = sorted(n for n in {*old, *new} if old.get(n) != new.get(n))
    return {n: old.get(n) for n in changed}, {n: new.get(n) for n in changed}
