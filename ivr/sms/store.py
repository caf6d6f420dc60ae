"""SMS template versions in PostgreSQL: the newest is in service.

``publish`` checks the rules, refuses a save based on a version that is no longer the
newest (two staff members editing at once: the second save never overwrites the
first silently), writes the audit log with before/after values, and sends
``NOTIFY sms_templates_published`` in one transaction, so every controller picks it
up (:mod:`ivr.published`). As for the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from ivr.published import store as published
from ivr.sms.defaults import default_templates
from ivr.sms.templates import Issue, Rules, TemplateSet, check

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

CHANNEL = "sms_templates_published"
VERSIONS = published.Versions("sms_template_versions", CHANNEL, 0x5E5_7E3A, "sms_templates")


class StaleTemplates(Exception):
    """Another save landed after the version this edit started from."""

    def __init__(self, version: int | None, current: TemplateSet) -> None:
        super().__init__(f"the SMS templates in service are now version {version}")
        self.version = version
        self.current = current


class TemplatesRefused(Exception):
    """The set breaks the rules; nothing was saved."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{i.template}: {i.message}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class TemplateVersion:
    id: int
    templates: TemplateSet
    created_at: datetime
    created_by: str
    comment: str


async def in_service(conn: Conn) -> tuple[int, str] | None:
    """The newest version's number and JSON text, or None when staff never saved one."""
    row = await conn.fetchrow(
        "SELECT id, body::text AS body FROM sms_template_versions ORDER BY id DESC LIMIT 1"
    )
    return None if row is None else (int(row["id"]), str(row["body"]))


async def current(conn: Conn, rules: Rules) -> tuple[int | None, TemplateSet]:
    """The set in service and its version (None: the shipped default for ``rules``)."""
    found = await in_service(conn)
    if found is None:
        return None, default_templates(rules)
    return found[0], TemplateSet.from_json(found[1])


async def publish(
    conn: Conn,
    templates: TemplateSet,
    actor: str,
    base_version: int | None,
    rules: Rules,
    *,
    comment: str = "",
    ip: object | None = None,
) -> int:
    """Save ``templates`` as the set in service; returns its version.

    Raises ``TemplatesRefused`` (nothing saved) when a rule is broken, and
    ``StaleTemplates`` when ``base_version`` is no longer the newest.
    """

    def validate(_before: TemplateSet) -> None:
        issues = check(templates, rules)
        if issues:
            raise TemplatesRefused(issues)

    def audit_values(before: TemplateSet) -> tuple[dict[str, Any], dict[str, Any]]:
        old, new = published.changes(before.templates, templates.to_dict()["templates"])
        return {"templates": old}, {"templates": new}

    return await published.publish(
        conn,
        VERSIONS,
        actor,
        base_version,
        current=lambda: current(conn, rules),
        stale=StaleTemplates,
        validate=validate,
        body=templates.to_json(),
        audit_values=audit_values,
        comment=comment,
        ip=ip,
    )


async def history(conn: Conn, limit: int = 50) -> list[TemplateVersion]:
    rows = await conn.fetch(
        "SELECT id, body::text AS body, created_at, created_by, comment "
        "FROM sms_template_versions ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [
        TemplateVersion(
            r["id"],
            TemplateSet.from_json(r["body"]),
            r["created_at"],
            r["created_by"],
            r["comment"],
        )
        for r in rows
    ]
