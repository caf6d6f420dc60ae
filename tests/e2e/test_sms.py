"""SMS with real calls: a mobile caller who chooses SMS gets exactly one message, with
the template's text, at the gateway (a fake Karaden on loopback); the outbox records
it through to delivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from ivr.dev.call import prompt_ms
from ivr.dev.sipp import Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.e2e.helpers import CALLER, DIALLED, wait_call
from tests.unit.test_sms_kit import SERVICE_ID, TENANT, TOKEN, FakeKaraden


@pytest.fixture
async def sms_stack(stack: Stack) -> AsyncIterator[tuple[Stack, FakeKaraden]]:
    """The shared controller restarted with SMS sent through a fake Karaden."""
    gateway = FakeKaraden()
    await gateway.start()
    before = dict(stack.extra_config)
    stack.extra_config["sms"] = {
        "gateway": "karaden",
        "token": TOKEN,
        "karaden_url": gateway.url,
        "karaden_tenant_id": TENANT,
        "karaden_service_id": SERVICE_ID,
        "poll_interval": 0.2,
        "retry_base": 0.1,
    }
    await asyncio.to_thread(stack.stop_controller)
    stack.start_controller()
    await stack.wait_log("ari_connected", timeout=120)
    try:
        yield stack, gateway
    finally:
        stack.extra_config.clear()
        stack.extra_config.update(before)
        await asyncio.to_thread(stack.stop_controller)
        stack.start_controller()
        await stack.wait_log("ari_connected", timeout=120)
        await gateway.stop()


async def test_mobile_caller_choosing_sms_gets_exactly_one_message(
    sms_stack: tuple[Stack, FakeKaraden],
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """1 (registration) then 1 (SMS) from 09012345678: one message to that number with
    the registration template's text; the flow says it was accepted; the outbox row
    ends delivered."""
    stack, gateway = sms_stack
    since = datetime.now(TOKYO)
    at_menu = prompt_ms(library, flow, "welcome") + 1500
    steps = [Step(at_menu, "1"), Step(2500, "1"), Step(6000, "")]
    result = await place_call(stack.asterisk.sip_port, DIALLED, CALLER, steps, tail_ms=1000)
    assert result.ok, result.output
    row = await wait_call(db, since)
    assert "send_registration" in row["path"] and "sms_sent" in row["path"], row["path"]

    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        status = await db.fetchval("SELECT status FROM sms_outbox WHERE call_id = $1", row["id"])
        if status == "delivered":
            break
        await asyncio.sleep(0.2)
    assert status == "delivered"
    assert len(gateway.messages) == 1 and gateway.posts == 1
    (message,) = gateway.messages.values()
    assert message.to == CALLER
    assert message.body.startswith("【○○市】マイナ保険証のご案内")  # the registration template
    body = await db.fetchval("SELECT body FROM sms_outbox WHERE call_id = $1", row["id"])
    assert message.body == body and len(body) > 140  # longer than one old-style SMS
