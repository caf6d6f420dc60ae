"""ARI event filtering: the controller asks Asterisk for the event types it handles
only, after every (re)connect; a refused filter is logged and changes nothing else."""

from __future__ import annotations

import time
import typing
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from ivr.ari import events as ari
from ivr.ari.client import AriClient
from tests.fakeari.shell import running_shell
from tests.unit.test_shell_busy import FLOW, MENU

CHANNEL = {"id": "c1", "name": "PJSIP/trunk-1", "state": "Up", "caller": {"number": "1"}}
PLAYBACK = {"id": "p1", "target_uri": "channel:c1", "media_uri": "sound:x", "state": "done"}
# One minimal event of each handled type, as Asterisk sends it.
SAMPLES: dict[str, dict[str, Any]] = {
    "StasisStart": {"channel": CHANNEL, "args": ["inbound", "0501234567"]},
    "StasisEnd": {"channel": CHANNEL},
    "ChannelDtmfReceived": {"channel": CHANNEL, "digit": "1", "duration_ms": 100},
    "ChannelHangupRequest": {"channel": CHANNEL, "cause": 16},
    "ChannelDestroyed": {"channel": CHANNEL, "cause": 16},
    "PlaybackStarted": {"playback": PLAYBACK},
    "PlaybackFinished": {"playback": PLAYBACK},
    "Dial": {"caller": CHANNEL, "peer": {**CHANNEL, "id": "c2"}, "dialstatus": "ANSWER"},
}


def test_the_filter_lists_exactly_the_types_decoded() -> None:
    """Every type in HANDLED_TYPES decodes to its own class and every class of AriEvent
    (but OtherEvent) is reached by one: a type the controller acts on is never filtered."""
    assert set(SAMPLES) == ari.HANDLED_TYPES
    decoded = {kind: ari.decode({"type": kind, **raw}) for kind, raw in SAMPLES.items()}
    assert all(type(e).__name__ == kind for kind, e in decoded.items())
    classes = {c.__name__ for c in typing.get_args(ari.AriEvent)} - {"OtherEvent"}
    assert classes == ari.HANDLED_TYPES


@pytest.fixture
async def recording_ari() -> AsyncIterator[tuple[str, list[tuple[str, str, Any]]]]:
    """A small HTTP server that records each request's method, path and JSON body."""
    seen: list[tuple[str, str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        seen.append((request.method, request.path, body))
        return web.json_response({"name": "myna-ivr"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_filter_request_as_asterisk_documents_it(
    recording_ari: tuple[str, list[tuple[str, str, Any]]],
) -> None:
    """filter_events sends PUT /ari/applications/{app}/eventFilter with a JSON body
    {"allowed": [{"type": ...}, ...], "disallowed": []} (rest-api/api-docs/applications.json)."""
    url, seen = recording_ari
    async with aiohttp.ClientSession() as http:
        await AriClient(http, url, "ivr", "pw").filter_events("myna-ivr", ["StasisEnd", "Dial"])
    assert seen == [
        (
            "PUT",
            "/ari/applications/myna-ivr/eventFilter",
            {"allowed": [{"type": "Dial"}, {"type": "StasisEnd"}], "disallowed": []},
        )
    ]


async def test_filter_is_set_after_every_connect_and_a_refusal_is_not_fatal(
    tmp_path: Path,
) -> None:
    """The filter is asked for on the first connection and again after a reconnect,
    before the reconcile; the fake ARI refuses it (404, as an Asterisk without the
    route would), which is logged, and calls are served all the same."""
    async with running_shell(FLOW, tmp_path, wait_connected=False) as sh:
        fake = sh.fake
        fake.durations[MENU] = None
        with structlog.testing.capture_logs() as logs:
            await sh.wait_reconciled()
            await fake.cut()
            back = time.monotonic()
            fake.restore()
            await sh.wait_reconciled(since=back)
            c1 = fake.start_call()
            await sh.wait_play(c1, "menu")
        puts = fake.find("PUT", f"/applications/{fake.app}/eventFilter")
        lists = fake.find("GET", "/channels")
        assert [r.status for r in puts] == [404, 404]
        assert len(lists) == 2 and all(p.at < g.at for p, g in zip(puts, lists, strict=True))
        assert puts[1].at >= back
        failed = [e for e in logs if e["event"] == "ari_event_filter_failed"]
        assert len(failed) == 2 and "404" in failed[0]["error"]
