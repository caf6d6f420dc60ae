"""SMS with real calls through a fake Karaden on loopback: a mobile caller who chooses
SMS gets exactly one message with the template's text, delivered; a landline caller
keys a mobile number in, hears it read back, confirms, and the message goes there;
the fourth request of the day from one number takes its own refusal route."""

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


@pytest.fixture(scope="module")
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


async def _outbox_row(db: asyncpg.Connection, call_id: object) -> asyncpg.Record:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = await db.fetchrow("SELECT * FROM sms_outbox WHERE call_id = $1", call_id)
        if row is not None and row["status"] == "delivered":
            return row
        await asyncio.sleep(0.2)
    raise AssertionError(f"no delivered message for call {call_id}")


async def test_landline_caller_keys_a_mobile_number_and_it_goes_there(
    sms_stack: tuple[Stack, FakeKaraden],
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """A landline caller keys 090… and #, hears it read back, confirms with 1: one
    message to the keyed number, none to the landline."""
    stack, gateway = sms_stack
    landline, typed = "0311119999", "09087650001"
    since = datetime.now(TOKYO)
    at_menu = prompt_ms(library, flow, "welcome") + 1500
    steps = (
        [Step(at_menu, "1"), Step(2500, "1"), Step(2000, "")]
        + [Step(150, d) for d in typed + "#"]
        + [Step(3500, "1"), Step(6000, "")]
    )
    result = await place_call(stack.asterisk.sip_port, DIALLED, landline, steps, tail_ms=1000)
    assert result.ok, result.output
    row = await wait_call(db, since, caller=landline)
    assert "number_registration" in row["path"] and "sms_sent" in row["path"], row["path"]
    sent = await _outbox_row(db, row["id"])
    assert sent["number"] == typed
    assert [m.to for m in gateway.messages.values()].count(typed) == 1
    assert landline not in [m.to for m in gateway.messages.values()]


async def test_fourth_request_of_the_day_takes_the_limit_route(
    sms_stack: tuple[Stack, FakeKaraden],
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """With three messages already asked for today from one number, the next request is
    refused as daily_limit: the caller hears sms_limit, and nothing more is sent."""
    stack, gateway = sms_stack
    caller = "09011112222"
    for _ in range(3):
        await db.execute(
            "INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts, status,"
            " requested_at) VALUES (gen_random_uuid(), gen_random_uuid(), 'send_registration',"
            " 'sms_registration', $1, 'x', 1, 'delivered', now())",
            caller,
        )
    posts = gateway.posts
    since = datetime.now(TOKYO)
    at_menu = prompt_ms(library, flow, "welcome") + 1500
    steps = [Step(at_menu, "1"), Step(2500, "1"), Step(6000, "")]
    result = await place_call(stack.asterisk.sip_port, DIALLED, caller, steps, tail_ms=1000)
    assert result.ok, result.output
    row = await wait_call(db, since, caller=caller)
    assert "sms_limit" in row["path"] and "sms_sent" not in row["path"], row["path"]
    assert await db.fetchval("SELECT count(*) FROM sms_outbox WHERE number = $1", caller) == 3
    await asyncio.sleep(1)
    assert gateway.posts == posts


async def test_withheld_caller_is_never_texted_without_keying(
    sms_stack: tuple[Stack, FakeKaraden],
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """A caller who withheld the number (Privacy: id) although the trunk passes it is
    asked to key a number in; without keying, nothing is sent, and the record holds no
    number."""
    stack, gateway = sms_stack
    hidden = "09055550123"
    since = datetime.now(TOKYO)
    at_menu = prompt_ms(library, flow, "welcome") + 1500
    steps = [Step(at_menu, "1"), Step(2500, "1"), Step(5000, "")]
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, hidden, steps, tail_ms=1000, withheld=True
    )
    assert result.ok, result.output
    row = await wait_call(db, since, caller="")
    assert "number_registration" in row["path"] and "send_registration" not in row["path"]
    assert hidden not in [m.to for m in gateway.messages.values()]
    assert not await db.fetchval("SELECT count(*) FROM calls WHERE caller = $1", hidden)
