"""Transfer target versions in PostgreSQL: the newest is in service.

``publish`` checks the rules, refuses a save based on a version that is no longer the
newest (two staff members editing at once: the second save never overwrites the
first silently), writes the audit log with before/after values, and sends
``NOTIFY transfer_targets_published`` in one transaction, so every controller picks
it up (:mod:`ivr.published`). As for the calendar and the SMS templates.

While staff never saved a set, the configuration's ``transfer.targets`` are in
service (and are the list flows are checked against when they are published).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from ivr.config import TransferSettings
from ivr.published import store as published
from ivr.transfer.model import Issue, Target, TargetSet, check

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

CHANNEL = "transfer_targets_published"
VERSIONS = published.Versions("transfer_target_versions", CHANNEL, 0x7A_F3E5, "transfer_targets")


class StaleTargets(Exception):
    """Another save landed after the version this edit started from."""

    def __init__(self, version: int | None, current: TargetSet) -> None:
        super().__init__(f"the transfer targets in service are now version {version}")
        self.version = version
        self.current = current


class TargetsRefused(Exception):
    """The set breaks the rules; nothing was saved."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{i.target}.{i.field}: {i.detail}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class TargetsVersion:
    id: int
    targets: TargetSet
    created_at: datetime
    created_by: str
    comment: str


def configured(settings: TransferSettings) -> TargetSet:
    """The configuration's targets: in service while the database has none."""
    return TargetSet(tuple(Target(**vars(t)) for t in settings.targets))


async def in_service(conn: Conn) -> tuple[int, str] | None:
    """The newest version's number and JSON text, or None when staff never saved one."""
    row = await conn.fetchrow(
        "SELECT id, body::text AS body FROM transfer_target_versions ORDER BY id DESC LIMIT 1"
    )
    return None if row is None else (int(row["id"]), str(row["body"]))


async def current(conn: Conn, default: TargetSet) -> tuple[int | None, TargetSet]:
    """The set in service and its version (None: ``default``, the configuration's)."""
    found = await in_service(conn)
    if found is None:
        return None, default
    return found[0], TargetSet.from_json(found[1])


async def known_names(conn: Conn, default: Iterable[str] | None) -> frozenset[str] | None:
    """The target names a flow may use: the set in service, else ``default`` (the
    configuration's); None when neither is known (nothing to check against)."""
    found = await in_service(conn)
    if found is not None:
        return TargetSet.from_json(found[1]).names
    return None if default is None else frozenset(default)


async def publish(
    conn: Conn,
    targets: TargetSet,
    actor: str,
    base_version: int | None,
    settings: TransferSettings,
    *,
    comment: str = "",
    ip: object | None = None,
) -> int:
    """Save ``targets`` as the set in service; returns its version.

    Raises ``TargetsRefused`` (nothing saved) when a rule is broken, and
    ``StaleTargets`` when ``base_version`` is no longer the newest.
    """

    def validate(_before: TargetSet) -> None:
        issues = check(targets, settings.endpoints)
        if issues:
            raise TargetsRefused(issues)

    def audit_values(before: TargetSet) -> tuple[dict[str, Any], dict[str, Any]]:
        old, new = published.changes(
            {t.name: t.to_dict() for t in before.targets},
            {t.name: t.to_dict() for t in targets.targets},
        )
        return {"targets": old}, {"targets": new}

    return await published.publish(
        conn,
        VERSIONS,
        actor,
        base_version,
        current=lambda: current(conn, configured(settings)),
        stale=StaleTargets,
        validate=validate,
        body=targets.to_json(),
        audit_values=audit_values,
        comment=comment,
        ip=ip,
    )


async def history(conn: Conn, limit: int = 50) -> list[TargetsVersion]:
    rows = await conn.fetch(
        "SELECT id, body::text AS body, created_at, created_by, comment "
        "FROM transfer_target_versions ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [
        TargetsVersion(
            r["id"], TargetSet.from_json(r["body"]), r["created_at"], r["created_by"], r["comment"]
        )
        for r in rows
    ]
