"""Transfer targets as a published setting in PostgreSQL: publish validates, refuses
stale edits, audit-logs and notifies in one transaction; the controller serves the
database's set (else the configuration's); publishing a flow that names an unknown
target is refused with its node and line (store and CLI)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from ivr.config import TransferSettings, TransferTargetSettings
from ivr.dev import postgres
from ivr.flow.errors import FlowValidationError
from ivr.flow.loader import default_flow_text
from ivr.published.service import InService
from ivr.store import flows
from ivr.store.migrate import migrate
from ivr.transfer import store
from ivr.transfer.inservice import TransferTargetsKind
from ivr.transfer.model import Target, TargetSet

CONFIGURED = TransferSettings(targets=(TransferTargetSettings("kokuho", "0312345678"),))
KOKUHO = Target("kokuho", "0312345678", "trunk", 2, 30, "国保課")


@pytest.fixture(scope="module")
async def own_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A database of this module's own: published targets change what flows may name."""
    name = f"ivr_xfer_{uuid.uuid4().hex[:8]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    await postgres.drop_database(pg_admin_dsn, name)


@pytest.fixture
async def conn(own_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(own_dsn)
    await c.execute("TRUNCATE transfer_target_versions, admin_audit, flow_versions CASCADE")
    yield c
    await c.close()


async def test_publish_audits_notifies_and_refuses_stale_or_bad_sets(
    conn: asyncpg.Connection, own_dsn: str
) -> None:
    """The first publish is based on the configuration's set (version None); it is
    audit-logged with what changed and announced; an edit based on an old version and a
    set breaking a rule are refused with nothing saved."""
    listener = await asyncpg.connect(own_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(
        store.CHANNEL, lambda _c, _p, _ch, payload: heard.put_nowait(payload)
    )
    try:
        version, current = await store.current(conn, store.configured(CONFIGURED))
        assert version is None and current.names == {"kokuho"}
        added = current.with_target(Target("nenkin", "0312340000", label="年金"))
        first = await store.publish(conn, added, "tanaka", None, CONFIGURED, comment="年金を追加")
        assert await asyncio.wait_for(heard.get(), 5) == str(first)
        entry = await conn.fetchrow(
            "SELECT * FROM admin_audit WHERE action = 'transfer_targets.publish'"
        )
        assert entry["actor"] == "tanaka" and entry["target"] == f"transfer_targets:{first}"
        assert json.loads(entry["before"]) == {"version": None, "targets": {"nenkin": None}}
        assert json.loads(entry["after"])["targets"]["nenkin"]["number"] == "0312340000"

        with pytest.raises(store.StaleTargets) as stale:
            await store.publish(conn, added.without("nenkin"), "suzuki", None, CONFIGURED)
        assert stale.value.version == first and stale.value.current.names == {"kokuho", "nenkin"}
        bad = added.with_target(Target("nenkin", "03-1234"), replacing="nenkin")
        with pytest.raises(store.TargetsRefused) as refused:
            await store.publish(conn, bad, "suzuki", first, CONFIGURED)
        assert [(i.target, i.field) for i in refused.value.issues] == [("nenkin", "number")]
        assert await conn.fetchval("SELECT count(*) FROM transfer_target_versions") == 1
        history = await store.history(conn)
        assert [(v.id, v.created_by, v.comment) for v in history] == [
            (first, "tanaka", "年金を追加")
        ]
    finally:
        await listener.close()


async def test_flow_naming_an_unknown_target_is_not_published(conn: asyncpg.Connection) -> None:
    """While no set is published, the configuration's targets are the list; once one is,
    it is. A flow naming a target outside the list is refused naming the node and line,
    and the version in service does not change."""
    version = await flows.save_draft(conn, default_flow_text(), "tester")
    await flows.publish(conn, version, "tester", transfer_targets=["kokuho"])
    with pytest.raises(FlowValidationError) as e:
        await flows.publish(conn, version, "tester", transfer_targets=["nenkin"])
    (issue,) = e.value.errors
    assert (issue.code, issue.node) == ("unknown_target", "transfer_staff") and issue.line

    await store.publish(conn, TargetSet((Target("nenkin", "0312340000"),)), "t", None, CONFIGURED)
    other = await flows.save_draft(conn, default_flow_text(), "tester")
    with pytest.raises(FlowValidationError, match="transfer target 'kokuho'"):
        await flows.publish(conn, other, "tester", transfer_targets=["kokuho"])
    current = await flows.published(conn)
    assert current is not None and current.id == version


async def test_cli_publish_refuses_an_unknown_target(
    conn: asyncpg.Connection, own_dsn: str, tmp_path: Path
) -> None:
    """`ivr flow publish` with no published set checks the flow against transfer.targets
    of its configuration, and says which node and line name an unknown target."""
    config = tmp_path / "ivr.yaml"
    config.write_text(
        'transfer:\n  targets:\n    - {name: nenkin, number: "0312340000"}\n', encoding="utf-8"
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(default_flow_text(), encoding="utf-8")
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ivr", "--config", str(config), "flow", "publish", str(flow)],
        env={**os.environ, "IVR_DATABASE_URL": own_dsn},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "not published" in result.stderr and "node 'transfer_staff'" in result.stderr
    assert "transfer target 'kokuho' is not a transfer target (nenkin)" in result.stderr
    assert await flows.published(conn) is None


async def test_controller_serves_the_database_set_else_the_configured_one(
    conn: asyncpg.Connection, own_dsn: str, tmp_path: Path
) -> None:
    """At start with no published set the configuration's targets are in service; a
    publish is picked up; a stored set the rules now refuse is never put in service."""
    served = InService(TransferTargetsKind(CONFIGURED), tmp_path / "cache.json")
    await served.start(own_dsn)
    assert served.served.origin == "default" and served.current.names == {"kokuho"}
    version = await store.publish(
        conn, TargetSet((KOKUHO, Target("nenkin", "0312340000"))), "t", None, CONFIGURED
    )
    assert await served.refresh(conn)
    assert served.served.source.version == version and served.current.names == {"kokuho", "nenkin"}
    await conn.execute(
        "INSERT INTO transfer_target_versions (body) VALUES ($1::jsonb)",
        TargetSet((Target("kokuho", "0312345678", "elsewhere"),)).to_json(),
    )
    assert not await served.refresh(conn)  # refused: the endpoint is not allowed
    assert served.served.source.version == version
