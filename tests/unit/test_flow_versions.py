"""Flow versions: publish validates first, rolls back, and notifies listeners."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from ivr.flow.errors import FlowError
from ivr.flow.loader import default_flow_text
from ivr.store import flows


async def test_publish_rollback_and_notify(db: asyncpg.Connection, database_dsn: str) -> None:
    """Publishing switches the version in service, tells listeners, and can be undone."""
    listener = await asyncpg.connect(database_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(
        flows.CHANNEL, lambda _c, _p, _ch, payload: heard.put_nowait(payload)
    )
    try:
        first = await flows.save_draft(db, default_flow_text(), "tester", "initial")
        await flows.publish(db, first, "tester")
        assert await asyncio.wait_for(heard.get(), 5) == str(first)
        changed = default_flow_text().replace("○○市", "テスト市")
        second = await flows.save_draft(db, changed, "tester", "city name")
        await flows.publish(db, second, "tester")
        assert await asyncio.wait_for(heard.get(), 5) == str(second)
        current = await flows.published(db)
        assert current is not None and current.id == second and "テスト市" in current.source
        assert (await flows.get(db, first)).status == "retired"

        await flows.publish(db, first, "tester")  # roll back
        current = await flows.published(db)
        assert current is not None and current.id == first and current.published_by == "tester"
        entry = await db.fetchrow(
            "SELECT * FROM admin_audit WHERE action = 'flow.publish' ORDER BY id DESC LIMIT 1"
        )
        assert entry["actor"] == "tester" and entry["target"] == f"flow:{first}"
        assert json.loads(entry["before"])["version"] == second
        assert json.loads(entry["after"]) == {
            "version": first,
            "name": current.name,
            "comment": "initial",
        }
    finally:
        await listener.close()


async def test_invalid_flow_never_replaces_the_one_in_service(db: asyncpg.Connection) -> None:
    """A draft that fails validation cannot be published; the version in service stays."""
    good = await flows.save_draft(db, default_flow_text(), "tester")
    await flows.publish(db, good, "tester")
    bad = await flows.save_draft(
        db, default_flow_text().replace("start: service_check", "start: nowhere"), "tester"
    )
    with pytest.raises(FlowError, match="nowhere"):
        await flows.publish(db, bad, "tester")
    current = await flows.published(db)
    assert current is not None and current.id == good
    assert (await flows.get(db, bad)).status == "draft"
    with pytest.raises(flows.FlowVersionError):
        await flows.publish(db, 999999, "tester")
