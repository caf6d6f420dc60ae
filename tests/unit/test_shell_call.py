"""The ARI shell during a call, against the fake ARI server: what Asterisk is asked to
do, in which order, and how ARI's refusals are read (``docs/architecture.md``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog

from ivr.call.prompts import PromptResolver
from tests.fakeari.flows import menu_flow
from tests.fakeari.shell import played, running_shell

FLOW = menu_flow("shell test", menu_timeout=1)

MENU = "sound:/snd/uploads/menu"
INFO = "sound:/snd/uploads/info"


def summary(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The last ``call_summary`` line (one per call)."""
    found = [e for e in logs if e["event"] == "call_summary"]
    assert found, "no call_summary logged"
    return found[-1]


async def test_stasis_start_answers_then_plays(tmp_path: Path) -> None:
    """A StasisStart is answered, then the prompts play in order; a key during the menu
    plays the next prompt before stopping the menu, and the flow's end hangs up."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[MENU] = None  # the menu plays until stopped
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            await sh.wait_play(c1, "menu")
            fake.press(c1, "9")
            await fake.wait_request("DELETE", f"/channels/{c1}")
            await sh.wait_ended(c1)
        assert sh.ops(c1) == [
            "POST /channels/C/answer 204",
            "POST /channels/C/play/C-pb1 201",
            "POST /channels/C/play/C-pb2 201",
            "POST /channels/C/play/C-pb3 201",  # bye, queued behind the menu ...
            "DELETE /playbacks/C-pb2 204",  # ... which then stops: no gap between them
            "DELETE /channels/C 204",
        ]
        assert sh.plays(c1) == [("hello",), ("menu",), ("bye",)]
        bye = next(p for p in fake.played if p.id == f"{c1}-pb3")
        hangup = fake.find("DELETE", f"/channels/{c1}")[0]
        assert bye.state == "done" and hangup.at > fake.requests_for(c1)[3].at
        assert summary(logs)["outcome"] == "completed"


async def test_dtmf_goes_to_its_own_call(tmp_path: Path) -> None:
    """With two calls at the menu, a key on one call moves that call only."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[MENU] = fake.durations[INFO] = None
        c1 = fake.start_call(caller="0312345678")
        c2 = fake.start_call(caller="09087654321")
        await sh.wait_play(c1, "menu")
        await sh.wait_play(c2, "menu")
        fake.press(c2, "1")
        await sh.wait_play(c2, "info")
        await asyncio.sleep(0.1)
        assert sh.plays(c1) == [("hello",), ("menu",)]
        assert fake.find("DELETE", "/playbacks/*", channel=c1) == []
        fake.press(c1, "9")
        await sh.wait_play(c1, "bye")
        await fake.wait_request("DELETE", f"/channels/{c1}")
        assert sh.plays(c1) == [("hello",), ("menu",), ("bye",)]
        assert sh.plays(c2)[:3] == [("hello",), ("menu",), ("info",)]
        assert c2 in fake.channels and fake.find("DELETE", f"/channels/{c2}") == []


@pytest.mark.parametrize(
    ("route", "status"),
    [
        ("play", 404),
        ("play", 409),
        ("play", 412),
        ("answer", 404),
        ("answer", 409),
        ("answer", 412),
    ],
)
async def test_channel_refusal_means_caller_gone(tmp_path: Path, route: str, status: int) -> None:
    """A 404, 409 or 412 on the channel's play or answer is read as the caller gone:
    the call ends as caller_hangup and ARI is asked nothing more about the channel."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        pattern = "/channels/*/play/*" if route == "play" else "/channels/*/answer"
        fake.fail("POST", pattern, status)
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            await sh.wait_ended(c1)
            await asyncio.sleep(0.15)  # nothing else may follow
        reqs = fake.requests_for(c1)
        refused = [i for i, r in enumerate(reqs) if r.status == status]
        assert refused, [str(r) for r in reqs]
        assert reqs[refused[0]].route.endswith(route) or route == "play"
        assert reqs[refused[0] :] == [reqs[-1]], [str(r) for r in reqs]
        assert summary(logs)["outcome"] == "caller_hangup"
        assert not [e for e in logs if e["event"] in ("call_failed", "play_failed")]


async def test_server_error_on_play_logs_and_carries_on(tmp_path: Path) -> None:
    """A 500 on a play is logged as play_failed and the flow goes on as if the
    prompt had ended: the next prompt is played."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.fail("POST", "/channels/*/play/*", 500)
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            await sh.wait_play(c1, "menu")
        plays = fake.find("POST", "/channels/*/play/*", channel=c1)
        assert [(played(r), r.status) for r in plays] == [(("hello",), 500), (("menu",), 201)]
        failed = [e for e in logs if e["event"] == "play_failed"]
        assert len(failed) == 1 and "500" in failed[0]["error"]
        assert failed[0]["prompts"] == ("hello",)
        assert c1 in sh.dispatcher.sessions


@pytest.mark.parametrize("trouble", ["500 once", "500 twice", "no answer"])
async def test_failed_hangup_is_tried_again(tmp_path: Path, trouble: str) -> None:
    """When the flow's hang-up fails (a 500, or no answer), it is tried again (once by
    the command, once more when the call is finished): the caller is never left in
    Stasis, and the call still ends as the flow said."""
    async with running_shell(FLOW, tmp_path, request_timeout=0.3) as sh:
        fake = sh.fake
        if trouble == "no answer":
            fake.hang("DELETE", "/channels/*")
        else:
            fake.fail("DELETE", "/channels/*", 500, times=2 if trouble == "500 twice" else 1)
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            await sh.wait_play(c1, "menu")
            fake.press(c1, "9")
            await fake.wait_for(lambda: c1 not in fake.channels)
            await sh.wait_ended(c1)
        hangups = [r.status for r in fake.find("DELETE", f"/channels/{c1}")]
        assert hangups == {"500 once": [500, 204], "500 twice": [500, 500, 204]}.get(
            trouble, [0, 204]
        )
        assert len([e for e in logs if e["event"] == "hangup_failed"]) == len(hangups) - 1
        assert summary(logs)["outcome"] == "completed"
        assert "call_failed" not in [e["event"] for e in logs]


async def test_failed_stop_does_not_end_the_call(tmp_path: Path) -> None:
    """A stop the server refuses (500) is logged as stop_failed and the call goes on:
    the next prompt plays once the one that could not be stopped has ended."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[MENU] = 0.4
        fake.fail("DELETE", "/playbacks/*", 500)
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            menu = await sh.wait_play(c1, "menu")
            fake.press(c1, "9")
            await fake.wait_request("DELETE", f"/channels/{c1}")
            await sh.wait_ended(c1)
        assert sh.ops(c1)[-3:] == [
            "POST /channels/C/play/C-pb3 201",  # bye, queued behind the menu
            "DELETE /playbacks/C-pb2 500",
            "DELETE /channels/C 204",  # after bye, which came after the whole menu
        ]
        bye = next(p for p in fake.played if p.id == f"{c1}-pb3")
        assert bye.state == "done" and fake.requests_for(c1)[-1].at - menu.at >= 0.4
        assert [e["event"] for e in logs].count("stop_failed") == 1
        assert summary(logs)["outcome"] == "completed"
        assert "call_failed" not in [e["event"] for e in logs]


async def test_play_that_never_answers_times_out_and_carries_on(tmp_path: Path) -> None:
    """A play request ARI never answers times out (client timeout), is logged as
    play_failed, and the next prompt plays: the caller is not left in silence."""
    async with running_shell(FLOW, tmp_path, request_timeout=0.3) as sh:
        fake = sh.fake
        fake.hang("POST", "/channels/*/play/*")
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            menu = await sh.wait_play(c1, "menu")
        first = fake.find("POST", "/channels/*/play/*", channel=c1)[0]
        assert played(first) == ("hello",) and first.status == 0  # never answered
        assert menu.at - first.at >= 0.3
        assert [e["event"] for e in logs].count("play_failed") == 1


class _BrokenInfo(PromptResolver):
    """Resolves prompts like the real one, but fails on ``info`` (a bug in the call)."""

    async def media(self, prompt_ids: Sequence[str], variables: Mapping[str, str]) -> list[str]:
        if "info" in prompt_ids:
            raise RuntimeError("prompt store broken")
        return await super().media(prompt_ids, variables)


async def test_error_inside_the_call_apologises_then_hangs_up(tmp_path: Path) -> None:
    """An exception inside the call plays the apology (system/error) to its end, then
    hangs up: the caller never sits in silence."""
    async with running_shell(FLOW, tmp_path, resolver=_BrokenInfo) as sh:
        fake = sh.fake
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            menu = await sh.wait_play(c1, "menu")
            menu_pb = menu.route.rsplit("/", 1)[1]
            await fake.wait_for(
                lambda: any(
                    e["type"] == "PlaybackFinished" and e["playback"]["id"] == menu_pb
                    for e in fake.events
                )
            )
            fake.press(c1, "1")
            hangup = await fake.wait_request("DELETE", f"/channels/{c1}")
            await sh.wait_ended(c1)
        reqs = fake.requests_for(c1)
        assert reqs[-1] is hangup
        apology = reqs[-2]
        assert apology.method == "POST" and played(apology) == ("system/error",)
        apology_pb = next(p for p in fake.played if p.id == apology.route.rsplit("/", 1)[1])
        assert apology_pb.state == "done" and not apology_pb.stopped  # heard to its end
        assert hangup.at - apology.at >= 0.05
        assert "call_failed" in [e["event"] for e in logs]
        assert summary(logs)["outcome"] == "error"


async def test_apology_stops_the_prompt_playing_first(tmp_path: Path) -> None:
    """An error while a prompt still plays (a key during the menu) stops that prompt
    before the apology is played, so the apology is heard at once, then the hang-up."""
    async with running_shell(FLOW, tmp_path, resolver=_BrokenInfo) as sh:
        fake = sh.fake
        fake.durations[MENU] = None  # the menu would play until stopped
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            await sh.wait_play(c1, "menu")
            fake.press(c1, "1")  # info cannot be resolved: the call fails mid-menu
            await fake.wait_request("DELETE", f"/channels/{c1}")
            await sh.wait_ended(c1)
        assert sh.ops(c1)[-3:] == [
            "DELETE /playbacks/C-pb2 204",  # the menu, stopped first
            "POST /channels/C/play/C-pb3 201",  # the apology, which starts at once
            "DELETE /channels/C 204",
        ]
        apology = next(p for p in fake.played if p.id == f"{c1}-pb3")
        assert apology.media == ["sound:/snd/system/error"]
        assert apology.state == "done" and not apology.stopped
        assert "call_failed" in [e["event"] for e in logs]
        assert summary(logs)["outcome"] == "error"
