"""The audit log: the record() API, the administrators' viewer, CSV for Excel, retention."""

from __future__ import annotations

import csv
import io
import re

import aiohttp
import asyncpg
from playwright.async_api import Page, expect

from ivr_admin import audit

from .conftest import PASSWORD, login, make_account


async def test_record_stores_who_what_where_and_values(db: asyncpg.Connection) -> None:
    """record() keeps actor, action, target, before/after and address, and masks secrets."""
    await audit.record(
        db,
        "tanaka",
        "calendar.update",
        "calendar:2025-12-29",
        {"open": True},
        {"open": False, "password": "hunter2"},
        "203.0.113.9",
    )
    row = await db.fetchrow("SELECT * FROM admin_audit")
    assert (row["actor"], row["action"], row["target"], str(row["ip"])) == (
        "tanaka",
        "calendar.update",
        "calendar:2025-12-29",
        "203.0.113.9",
    )
    assert row["before"] == '{"open": true}'
    assert "hunter2" not in row["after"] and '"open": false' in row["after"]


async def test_purge_removes_only_entries_past_retention(db: asyncpg.Connection) -> None:
    """Entries older than the retention period are deleted; newer ones stay."""
    await audit.record(db, "a", "old.thing")
    await audit.record(db, "a", "new.thing")
    await db.execute(
        "UPDATE admin_audit SET at = now() - interval '400 days' WHERE action = 'old.thing'"
    )
    assert await audit.purge(db, 365) == 1
    assert [r["action"] for r in await db.fetch("SELECT action FROM admin_audit")] == ["new.thing"]


async def test_viewer_lists_and_filters_entries_in_japan_time(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """Administrators see entries newest first, in Asia/Tokyo time, filtered by actor and action."""
    await make_account(db, "admin")
    await audit.record(
        db,
        "sato",
        "account.suspend",
        "account:x",
        {"suspended": False},
        {"suspended": True},
        "10.0.0.5",
    )
    await db.execute("UPDATE admin_audit SET at = '2025-06-30 15:30:00+00'")  # 00:30 JST on 7/1
    await login(page, site, "admin")
    await page.goto(f"{site}/audit")
    row = page.get_by_role("row", name=re.compile("アカウント停止"))
    await expect(row).to_contain_text("2025-07-01 00:30:00")
    await expect(row).to_contain_text("10.0.0.5")
    await expect(page.get_by_role("row", name=re.compile("ログイン"))).to_have_count(1)

    await page.get_by_label("操作者（ログインID）").fill("sato")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await page.get_by_label("開始日").fill("2025-07-02")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(page.locator("tbody")).to_have_text(re.compile("該当する記録はありません"))


async def test_csv_export_opens_in_excel(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """The CSV is UTF-8 with BOM and CRLF, has Japanese headers, JST times, and disarms formulas."""
    await make_account(db, "admin")
    await audit.record(
        db,
        "=cmd|' /C calc'!A0",
        "settings.update",
        "guidance",
        None,
        {"text": "本日は閉庁日です"},
        "10.0.0.7",
    )
    async with http.get(f"{site}/login") as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)  # type: ignore[union-attr]
    async with http.post(
        f"{site}/login", data={"csrf_token": token, "login_id": "admin", "password": PASSWORD}
    ) as r:
        assert r.status == 200
    async with http.get(f"{site}/audit/export.csv?actor=%3Dcmd%7C%27+%2FC+calc%27%21A0") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="audit-')
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body[3:].decode("utf-8")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["日時", "操作者", "操作", "操作ID", "対象", "接続元", "変更前", "変更後"]
    assert len(rows) == 2
    assert rows[1][1] == "'=cmd|' /C calc'!A0"
    assert rows[1][5] == "10.0.0.7" and "本日は閉庁日です" in rows[1][7]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[1][0])


async def test_login_events_are_audited(site: str, page: Page, db: asyncpg.Connection) -> None:
    """Logins, failures and logouts appear in the audit log with the source address."""
    await make_account(db, "admin")
    await login(page, site, "admin", "not-the-password")
    await login(page, site, "nobody", "not-the-password")
    await login(page, site, "admin")
    await page.get_by_role("button", name="ログアウト").click()
    rows = await db.fetch(
        "SELECT actor, action, target, after->>'reason' AS reason, host(ip) AS ip"
        " FROM admin_audit ORDER BY id"
    )
    assert [(r["action"], r["reason"]) for r in rows] == [
        ("login.failure", "wrong_password"),
        ("login.failure", "unknown_login_id"),
        ("login.success", None),
        ("logout", None),
    ]
    assert {r["ip"] for r in rows} == {"127.0.0.1"}
    assert rows[2]["actor"] == "admin"
