"""A calendar change made by staff in the browser is heard on the next real call, with
no restart: the same key (0, to talk to staff) is transferred while the day is open
and gets the office-hours guidance once an operator closes the day; the preview for
that moment and key shows the same path."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime

import asyncpg
from playwright.async_api import Page, expect

from ivr.calendar import store
from ivr.calendar.model import DateOverride, Window
from ivr.dev.call import prompt_ms
from ivr.dev.sipp import Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.admin.conftest import browser, login, make_account, new_context, page, site  # noqa: F401
from tests.e2e.helpers import CALLER, DIALLED, wait_call


def _switches(stack: Stack) -> list[dict[str, object]]:
    return [e for e in stack.log_entries() if e.get("event") == "calendar_switched"]


async def _wait_switch(stack: Stack, version: int) -> None:
    for _ in range(300):
        done = _switches(stack)
        if done and done[-1]["version"] == version:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"controller did not switch to calendar {version}: {stack.log_tail()}")


async def _press_zero(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> asyncpg.Record:
    since = datetime.now(TOKYO)
    press_at = prompt_ms(library, flow, "welcome") + 1500  # inside the main menu prompt
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, "0")], tail_ms=2500
    )
    assert result.ok, result.output
    return await wait_call(db, since)


async def test_operator_closes_today_and_the_next_call_hears_it(
    stack: Stack,
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
    site: str,  # noqa: F811
    page: Page,  # noqa: F811
) -> None:
    """Open all day → 0 goes to the transfer; an operator closes today in the browser →
    the next call's 0 hears office_closed, and the preview for now and 0 agrees."""
    base_version, base = await store.current(db)
    now = datetime.now(TOKYO)
    opened = replace(
        base,
        overrides=(
            *(o for o in base.overrides if o.day != now.date()),
            DateOverride(now.date(), (Window(0, 24 * 60),), "e2e"),
        ),
    )
    version = await store.publish(db, opened, "e2e", base_version, now)
    try:
        await _wait_switch(stack, version)
        row = await _press_zero(stack, library, flow, db)
        assert "transfer_staff" in row["path"] and "office_closed" not in row["path"]

        login_id = f"op{uuid.uuid4().hex[:8]}"
        await make_account(db, login_id, "operator")
        await login(page, site, login_id)
        await page.goto(f"{site}/calendar/edit")
        row_label = next(i + 1 for i, o in enumerate(opened.overrides) if o.day == now.date())
        await page.get_by_label(f"日付ごとの設定{row_label}行目 終日休業").check()
        await page.get_by_role("button", name="保存する").click()
        await expect(page.get_by_role("status")).to_have_text("保存しました。")
        closed_version, closed = await store.current(db)
        assert closed_version is not None and closed.override_on(now.date()) is not None
        assert closed.override_on(now.date()).windows == ()  # type: ignore[union-attr]
        await _wait_switch(stack, closed_version)

        row = await _press_zero(stack, library, flow, db)
        assert "office_closed" in row["path"] and "transfer_staff" not in row["path"]

        moment = datetime.now(TOKYO)
        await page.goto(
            f"{site}/calendar/preview?date={moment.date().isoformat()}"
            f"&time={moment:%H:%M}&caller=mobile&keys=0"
        )
        await expect(page.locator('#preview-path > li[data-node="office_closed"]')).to_have_count(1)
        await expect(page.locator('#preview-path > li[data-node="transfer_staff"]')).to_have_count(
            0
        )
        previewed = await page.locator("#preview-path > li").evaluate_all(
            "items => items.map(li => li.dataset.node)"
        )
        heard = [n for n in row["path"] if n in previewed]
        assert heard == [n for n in previewed if n in row["path"]]  # same nodes, same order
    finally:
        current, _ = await store.current(db)
        await store.publish(db, base, "e2e", current, datetime.now(TOKYO))
