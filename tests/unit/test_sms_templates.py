"""SMS templates as a published setting: publishing checks the rules, refuses stale
edits, audit-logs and notifies in one transaction; controllers serve what the
database has in service, never a stored set that breaks the rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from ivr.config import SmsSettings
from ivr.published.service import InService
from ivr.sms import store
from ivr.sms.defaults import default_templates
from ivr.sms.inservice import SmsTemplatesKind, templates_in_service
from ivr.sms.templates import Rules, TemplateSet

from . import test_sms_kit as kit

sms_pool = kit.sms_pool  # a fixture shared by the SMS tests

RULES = Rules.from_settings(SmsSettings())
WARNING = SmsSettings().fraud_warning


async def test_publish_validates_audits_notifies_and_refuses_stale(
    sms_pool: asyncpg.Pool, database_dsn: str
) -> None:
    """A good set becomes version 1 with an audit row naming the change and a NOTIFY;
    a bad one and one based on an old version are refused, nothing saved."""
    listener = await asyncpg.connect(database_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(store.CHANNEL, lambda *a: heard.put_nowait(a[3]))
    try:
        async with sms_pool.acquire() as conn:
            version, current = await store.current(conn, RULES)
            assert version is None and set(current.templates) >= {"sms_lost"}
            changed = current.with_template("sms_lost", f"【○○市】紛失のご案内。{WARNING}")
            new = await store.publish(conn, changed, "tanaka", None, RULES, ip="10.0.0.5")
            assert new == 1 and await asyncio.wait_for(heard.get(), 5) == "1"
            audit = await conn.fetchrow("SELECT * FROM admin_audit ORDER BY id DESC LIMIT 1")
            assert (audit["actor"], audit["action"], audit["target"]) == (
                "tanaka",
                "sms_templates.publish",
                "sms_templates:1",
            )
            after = json.loads(audit["after"])
            new_text = f"【○○市】紛失のご案内。{WARNING}"
            assert after == {"version": 1, "templates": {"sms_lost": new_text}}
            before = json.loads(audit["before"])["templates"]["sms_lost"]
            assert before.startswith("【○○市】マイナンバー")
            with pytest.raises(store.StaleTemplates) as stale:
                await store.publish(conn, changed, "suzuki", None, RULES)
            assert stale.value.version == 1
            bad = changed.with_template("sms_lost", "警告なし https://example.com/")
            with pytest.raises(store.TemplatesRefused) as refused:
                await store.publish(conn, bad, "tanaka", 1, RULES)
            assert len(refused.value.issues) == 2
            assert [v.id for v in await store.history(conn)] == [1]
    finally:
        await listener.close()


async def test_the_database_wins_and_a_rule_breaking_set_is_not_served(
    sms_pool: asyncpg.Pool, database_dsn: str, tmp_path: Path
) -> None:
    """With no version the default is served; a published one replaces it; a stored set that
    breaks today's rules (the allowed domains narrowed since) keeps the served one."""
    service: InService[TemplateSet] = templates_in_service(RULES, tmp_path)
    await service.start(database_dsn)
    assert service.served.origin == "default"
    async with sms_pool.acquire() as conn:
        changed = service.current.with_template("sms_new", f"新しい案内です。{WARNING}")
        await store.publish(conn, changed, "tanaka", None, RULES)
        assert await service.refresh(conn)
        assert service.served.origin == "database" and "sms_new" in service.current.templates
        assert (tmp_path / "sms_templates-in-service.json").exists()
        await conn.execute(
            "INSERT INTO sms_template_versions (body) VALUES ($1::jsonb)",
            TemplateSet({"sms_lost": "警告のない本文"}).to_json(),
        )
        assert not await service.refresh(conn)
    assert service.served.source.version == 1


async def test_defaults_follow_the_configured_warning(tmp_path: Path) -> None:
    """The shipped set is built for the configured warning line and domains."""
    rules = Rules("△△市は暗証番号を聞きません。", ("*.lg.jp",))
    kind = SmsTemplatesKind(rules)
    built = await kind.build(kind.default())
    assert built.templates == default_templates(rules).templates
    assert all("△△市は暗証番号を聞きません。" in t for t in built.templates.values())
