"""The SMS delivery webhook on a running admin site with a real PostgreSQL: served at
/sms/delivery/{token} only when a token is set, outside the staff allowlist and login,
guarded by the token (404) and the provider's addresses (403); a Karaden-shaped report
moves a message to delivered once, with the provider's part count that staff then see
beside ours; garbage, a wrong token or a wrong source change nothing."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from ivr.config import ConfigError, Settings, SmsSettings
from ivr.sms import outbox
from ivr.sms.text import parts
from ivr_admin import create_app

from .conftest import Serve, admin_settings, login, make_account

TOKEN = "wH4ook-Tok3n_for_tests-0123456789abcdef"
PROVIDER = "203.0.113.7"  # in webhook_sources, outside the staff allowlist
WARNING = SmsSettings().fraud_warning
BODY = "【○○市】" + "お知らせ" * 30 + WARNING  # three parts by our count


def webhook_settings(**sms: Any) -> Settings:
    base = SmsSettings(
        gateway="karaden",
        karaden_tenant_id="tenant-1",
        karaden_service_id=7,
        webhook_token=TOKEN,
        webhook_sources=("203.0.113.0/24",),
    )
    return dataclasses.replace(admin_settings(), sms=dataclasses.replace(base, **sms))


@pytest.fixture(autouse=True)
async def clean_outbox(db: asyncpg.Connection) -> None:
    """Every test starts with an empty outbox."""
    await db.execute("TRUNCATE sms_outbox, sms_template_versions RESTART IDENTITY")


async def _sent(db: asyncpg.Connection, provider_id: str) -> uuid.UUID:
    """A message the provider has taken and not yet reported on."""
    call = uuid.uuid4()
    req = outbox.SmsRequest(
        outbox.outbox_id(call, "send"),
        call,
        "send",
        "sms_lost",
        "09012345678",
        BODY,
        parts(BODY),
        datetime.now(UTC),
    )
    await outbox.insert(db, req)
    await db.execute(
        """UPDATE sms_outbox SET status = 'sent', provider_id = $2, gateway = 'karaden',
               provider_status = 'waiting', sent_at = now(), attempts = 1,
               next_poll_at = now() + interval '1 hour'
           WHERE id = $1""",
        req.id,
        provider_id,
    )
    return req.id


def karaden_report(provider_id: str, tag: uuid.UUID) -> dict[str, Any]:
    """The body of Karaden's SMS送達結果通知 (the message object, as JSON)."""
    return {
        "id": provider_id,
        "object": "message",
        "project_id": 1,
        "service_id": 7,
        "billing_address_id": 1,
        "tags": [str(tag)],
        "is_shorten": False,
        "result": "done",
        "status": "done",
        "sent_result": "received",
        "carrier": "softbank",
        "charged_count_per_sent": 3,
        "sent_at": "2025-06-02T10:00:00+09:00",
        "received_at": "2025-06-02T10:00:05+09:00",
        "charged_at": "2025-06-02T10:00:05+09:00",
        "created_at": "2025-06-02T09:59:59+09:00",
        "updated_at": "2025-06-02T10:00:05+09:00",
    }


async def _row(db: asyncpg.Connection, sms_id: uuid.UUID) -> dict[str, Any]:
    row = await db.fetchrow("SELECT * FROM sms_outbox WHERE id = $1", sms_id)
    assert row is not None
    return dict(row)


async def _post(
    http: aiohttp.ClientSession, url: str, source: str | None = PROVIDER, **body: Any
) -> tuple[int, Any]:
    """POST as if from ``source`` (via the trusted proxy 127.0.0.1); the status, and the
    JSON answer of a success (errors are the site's usual error pages)."""
    headers = {"X-Forwarded-For": source} if source else {}
    async with http.post(url, headers=headers, allow_redirects=False, **body) as r:
        return r.status, (await r.json() if r.status == 200 else None)


async def test_karaden_report_moves_a_message_to_delivered_once(
    serve: Serve, db: asyncpg.Connection, http: aiohttp.ClientSession
) -> None:
    """Garbage, a wrong token and a wrong source are refused and change nothing; the
    report is applied once (repeated: 200, unchanged); staff pages stay closed to the
    provider's address."""
    site = await serve(webhook_settings())
    sms_id = await _sent(db, "5d6f1f2e-0000-4000-8000-000000000001")
    report = karaden_report("5d6f1f2e-0000-4000-8000-000000000001", sms_id)
    url = f"{site}/sms/delivery/{TOKEN}"
    before = await _row(db, sms_id)

    wrong = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
    assert (await _post(http, f"{site}/sms/delivery/{wrong}", json=report))[0] == 404
    assert (await _post(http, url, source="192.0.2.9", json=report))[0] == 403
    assert (await _post(http, url, source=None, json=report))[0] == 403  # 127.0.0.1 itself
    for garbage in ({"data": "not json"}, {"json": [report]}, {"json": {"hello": 1}}):
        assert (await _post(http, url, **garbage))[0] == 400
    assert await _row(db, sms_id) == before

    assert await _post(http, url, json=report) == (200, {"result": "updated"})
    after = await _row(db, sms_id)
    assert (after["status"], after["carrier"], after["provider_parts"]) == (
        "delivered",
        "softbank",
        3,
    )
    assert after["final_at"] is not None and after["next_poll_at"] is None
    assert after["provider_status"] == "done/received" and after["parts"] == 3

    assert await _post(http, url, json=report) == (200, {"result": "unchanged"})
    late = report | {"sent_result": "unconnected"}
    assert await _post(http, url, json=late) == (200, {"result": "unchanged"})
    assert await _row(db, sms_id) == after

    async with http.get(f"{site}/sms-templates", headers={"X-Forwarded-For": PROVIDER}) as r:
        assert r.status == 403  # the webhook's sources do not open the staff pages


async def test_without_a_token_there_is_no_webhook(
    site: str, db: asyncpg.Connection, http: aiohttp.ClientSession
) -> None:
    """The default site serves no /sms/delivery/ route: a report gets the very answer
    any unknown path gets, and changes nothing."""
    sms_id = await _sent(db, "5d6f1f2e-0000-4000-8000-000000000002")
    report = karaden_report("5d6f1f2e-0000-4000-8000-000000000002", sms_id)
    before = await _row(db, sms_id)
    answers = []
    for path in (f"/sms/delivery/{TOKEN}", "/no/such/path"):
        async with http.post(f"{site}{path}", json=report, allow_redirects=False) as r:
            answers.append((r.status, await r.text()))
    assert answers[0] == answers[1] and answers[0][0] != 200
    assert await _row(db, sms_id) == before


def test_a_token_without_sources_is_refused_at_start_up(database_dsn: str) -> None:
    """An empty source list would open the webhook to every address: the site refuses
    to start, naming the key."""
    with pytest.raises(ConfigError, match=r"sms\.webhook_sources: required"):
        create_app(webhook_settings(webhook_sources=()), database_dsn)


async def test_staff_see_the_providers_part_count(
    serve: Serve, db: asyncpg.Connection, http: aiohttp.ClientSession, page: Page
) -> None:
    """After a report, the outbox shows our count and the provider's side by side, and
    the template editor lists the provider's recent counts."""
    site = await serve(webhook_settings())
    sms_id = await _sent(db, "5d6f1f2e-0000-4000-8000-000000000003")
    report = karaden_report("5d6f1f2e-0000-4000-8000-000000000003", sms_id)
    report["charged_count_per_sent"] = 4
    assert (await _post(http, f"{site}/sms/delivery/{TOKEN}", json=report))[0] == 200

    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/sms-templates/outbox")
    row = page.locator("#outbox tbody tr").first
    await expect(row.locator("td.parts")).to_have_text("3")
    await expect(row.locator("td.provider-parts")).to_have_text("4")
    await expect(row).to_contain_text("配達済み")
    await expect(page.get_by_role("columnheader", name="通数（事業者）")).to_be_visible()

    await page.goto(f"{site}/sms-templates/edit/sms_lost")
    await expect(page.locator("#provider-counts")).to_contain_text(
        "当方の計算 3通・事業者 4通（違いがあります）"
    )
