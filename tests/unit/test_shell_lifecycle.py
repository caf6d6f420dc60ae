"""The call lifecycle through the ARI shell, against the fake ARI server: a stopping
controller hands its calls to the dialplan, and the next one resumes each at its
node in its own record (``ivr/call/resume.py``, ``asterisk-conf/extensions.conf``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import structlog

from ivr.call import resume
from tests.fakeari import FakeAri
from tests.fakeari import model as m
from tests.fakeari.flows import menu_flow
from tests.fakeari.shell import events, running_shell

FLOW = menu_flow("shell lifecycle test")

HELLO = "sound:/snd/uploads/hello"
MENU = "sound:/snd/uploads/menu"
STATE = "SHARED(IVR_STATE)"
HOLD_UNTIL = "SHARED(IVR_HOLD_UNTIL)"


@pytest.mark.parametrize("during", ["hello", "menu"])
async def test_sigterm_hands_calls_over_to_the_dialplan(tmp_path: Path, during: str) -> None:
    """On SIGTERM each call gets SHARED(IVR_HOLD)=1, its prompt stopped and a continue
    into the dialplan, and nothing more (the stopped prompt's end starts no next one);
    it is neither hung up nor apologised to, and its record stays open (no end, no
    outcome) for the next controller."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[f"sound:/snd/uploads/{during}"] = None  # plays until stopped
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            await sh.wait_play(c1, during)
            await sh.quiet()
            before = len(sh.ops(c1, with_state=True))
            await sh.dispatcher.hand_over()
            await fake.wait_for(lambda: fake.continued == [c1])
            await sh.wait_ended(c1)
            await sh.quiet()
        playing = "C-pb1" if during == "hello" else "C-pb2"
        assert sh.ops(c1, with_state=True)[before:] == [
            "POST SHARED(IVR_HOLD) 204",
            f"DELETE /playbacks/{playing} 204",  # the continue waits for it to end
            "POST /channels/C/continue 204",
        ]
        channel = fake.channels[c1]
        assert channel.variables["SHARED(IVR_HOLD)"] == "1" and not channel.in_app(fake.app)
        saved = resume.saved_on(channel.json()["channelvars"])
        assert saved is not None and saved.node == during
        assert fake.find("DELETE", f"/channels/{c1}") == []
        path = ("hello",) if during == "hello" else ("hello", "menu")
        assert sh.plays(c1) == [(node,) for node in path]  # no apology, nothing after
        last = sh.rows(c1)[-1]
        assert last.ended_at is None and last.outcome is None
        assert len(events(logs, "call_handed_over")) == 1
        assert not events(logs, "call_summary") and not events(logs, "call_failed")


async def test_call_arriving_after_the_hand_over_goes_to_the_dialplan(tmp_path: Path) -> None:
    """Once the controller is stopping, a new StasisStart is not served: the call is
    passed straight back to the dialplan's holding loop (no Answer, no session)."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        await sh.dispatcher.hand_over()
        c1 = fake.start_call()
        await fake.wait_for(lambda: fake.continued == [c1])
        await sh.quiet()
        assert sh.ops(c1, with_state=True) == [
            "POST SHARED(IVR_HOLD) 204",
            "POST /channels/C/continue 204",
        ]
        assert sh.dispatcher.calls_started == 0 and not sh.dispatcher.sessions


async def test_next_controller_resumes_a_handed_over_call(tmp_path: Path) -> None:
    """The dialplan brings a handed-over call back into Stasis: the next controller
    resumes it at its saved node (no Answer, only that node's prompt again, the node
    not repeated in the path) in the same record, one epoch later, and clears the
    dialplan's hold deadline."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with FakeAri() as fake:
        fake.durations[MENU] = None
        async with running_shell(FLOW, tmp_path / "a", fake=fake) as first:
            c1 = fake.start_call()
            await first.wait_play(c1, "menu")
            await first.quiet()
            await first.dispatcher.hand_over()
            await fake.wait_for(lambda: fake.continued == [c1])
            before = first.rows(c1)
        with structlog.testing.capture_logs() as logs:
            async with running_shell(FLOW, tmp_path / "b", fake=fake) as second:
                back = time.monotonic()
                fake.reenter(c1)  # held by the dialplan, back in Stasis a moment later
                await second.wait_play(c1, "menu", since=back)
                await second.quiet()
                assert second.ops(c1, with_state=True, since=back) == [
                    "POST SHARED(IVR_HOLD_UNTIL) 204",  # cleared first: a later hold gets 20 s
                    "POST /channels/C/play/C-pb1 201",  # no Answer, no orphan stops
                    "POST SHARED(IVR_STATE) 204",
                ]
                assert fake.channels[c1].variables[HOLD_UNTIL] == ""
                fake.press(c1, "1")
                await fake.wait_request("DELETE", f"/channels/{c1}", since=back)
                await second.wait_ended(c1)
                after = second.rows(c1)
                flow_events = second.call_events(c1)
        # hello and menu on the first controller; the menu alone again on the second
        assert second.plays(c1) == [("hello",), ("menu",), ("menu",), ("info",), ("bye",)]

        assert {r.id for r in before + after} == {resume.call_id(c1)}  # one record
        assert after[0].path == ("hello", "menu") and after[0].answered_at is not None
        assert after[-1].path == ("hello", "menu", "info", "bye")
        assert after[-1].outcome == "completed" and after[-1].ended_at is not None
        assert min(r.rev for r in after) > max(r.rev for r in before)
        assert flow_events[0].kind == "resume" and flow_events[0].node == "menu"
        assert all(e.seq > resume.EPOCH_SPAN for e in flow_events)
        started = events(logs, "call_started")
        assert [(e["adopted"], e["resumed_at"], e["epoch"]) for e in started] == [
            (False, "menu", 1)
        ]


async def test_reconcile_adopts_a_saved_call_and_resumes_it(tmp_path: Path) -> None:
    """A call found at reconcile with a saved place (its controller died mid-menu) has
    its predecessor's playbacks stopped, then resumes at that node in its record."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[MENU] = None
        await fake.cut()
        saved = sh.saved_state("menu", epoch=2, path=("hello", "menu"))
        c1 = fake.add_channel(state="Up", variables={STATE: saved})
        fake.play_orphan(c1, f"{c1}-pb2", MENU)  # the dead controller's menu, still playing
        back = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            fake.restore()
            await sh.wait_reconciled(since=back)
            await sh.wait_play(c1, "menu")
            await sh.quiet()
            fake.press(c1, "1")
            await fake.wait_request("DELETE", f"/channels/{c1}")
            await sh.wait_ended(c1)
        assert sh.ops(c1)[:6] == [
            "DELETE /playbacks/C-pb0 404",
            "DELETE /playbacks/C-pb1 404",
            "DELETE /playbacks/C-pb2 204",
            "DELETE /playbacks/C-pb3 404",
            "POST /channels/C/play/C-pb1 201",  # the menu again, at once: no Answer
            "POST /channels/C/play/C-pb2 201",  # info, after the key
        ]
        orphan = next(p for p in fake.played if p.id == f"{c1}-pb2" and p.stopped)
        assert orphan.state == "done"
        rows = sh.rows(c1)
        assert {r.id for r in rows} == {resume.call_id(c1)}
        assert rows[0].rev >= 3 * resume.EPOCH_SPAN  # epoch 3: revisions above the dead one's
        assert rows[0].path == ("hello", "menu") and rows[-1].outcome == "completed"
        assert rows[-1].path == ("hello", "menu", "info", "bye")
        assert [(e.kind, e.node) for e in sh.call_events(c1)][:1] == [("resume", "menu")]
        started = events(logs, "call_started")
        assert [(e["adopted"], e["resumed_at"], e["epoch"]) for e in started] == [(True, "menu", 3)]
        assert [e["channel_id"] for e in events(logs, "reconcile_adopt")] == [c1]


async def test_reconcile_leaves_a_transferred_call_alone(tmp_path: Path) -> None:
    """A channel whose saved leg is ``transfer`` (in Dial(), bridged to a city phone) is
    never adopted: no session, and ARI is asked nothing about it."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        await fake.cut()
        saved = sh.saved_state("menu", leg=resume.LEG_TRANSFER)
        c1 = fake.add_transferred(saved, attempt="", answered="1746061200.5")
        back = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            fake.restore()
            await sh.wait_reconciled(since=back)
            await sh.quiet()
        assert c1 not in sh.dispatcher.sessions and sh.dispatcher.calls_started == 0
        assert fake.requests_for(c1) == []
        assert not events(logs, "reconcile_adopt") and not events(logs, "call_started")


async def test_watchdog_recovers_an_event_dropped_on_a_live_socket(tmp_path: Path) -> None:
    """A PlaybackFinished Asterisk never sends, while the WebSocket stays up, is found
    by the call's watchdog after a quiet spell: the playback is gone, the flow moves on."""
    async with running_shell(FLOW, tmp_path, watchdog_seconds=0.3) as sh:
        fake = sh.fake
        fake.drop(lambda e: e["type"] == "PlaybackFinished" and e["playback"]["media_uri"] == HELLO)
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            hello = await sh.wait_play(c1, "hello")
            menu = await sh.wait_play(c1, "menu")
        hello_id = hello.route.rsplit("/", 1)[1]
        check = fake.find("GET", f"/playbacks/{hello_id}")
        assert [r.status for r in check] == [404] and check[0].at < menu.at
        assert menu.at - hello.at >= 0.3  # one quiet spell, then the watchdog
        assert len(fake.dropped) == 1 and len(fake.ws_attempts) == 1  # never reconnected
        assert len(events(logs, "playback_end_missed")) == 1


async def test_held_call_has_its_hold_deadline_cleared(tmp_path: Path) -> None:
    """A call the dialplan held (SHARED(IVR_HOLD_UNTIL) set) has that deadline cleared
    when the controller takes it, first thing, so that a later hold gets its own 20 s."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        deadline = str(int(time.time()) + 15)
        c1 = fake.start_call(state="Up", variables={HOLD_UNTIL: deadline})
        await sh.wait_play(c1, "menu")
        ops = sh.ops(c1, with_state=True)
        assert ops[:3] == [
            "POST SHARED(IVR_HOLD_UNTIL) 204",
            "POST /channels/C/answer 204",  # a new call (nothing saved): the flow from its start
            "POST /channels/C/play/C-pb1 201",
        ]
        hold = fake.find("POST", "/asterisk/variable", channel=c1)[0]
        assert hold.param("value") == "" and fake.channels[c1].variables[HOLD_UNTIL] == ""
        assert fake.channels[c1].json()["channelvars"][HOLD_UNTIL] == ""  # listed as unset


async def test_saved_node_missing_from_the_flow_starts_afresh(tmp_path: Path) -> None:
    """A saved place naming a node the flow no longer has starts the flow from its
    start node (the prompts from the beginning), still in the call's own record."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        saved = sh.saved_state("retired", path=("hello", "retired"))
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call(state="Up", variables={STATE: saved})
            await sh.wait_play(c1, "menu")
            await sh.quiet()
        assert sh.plays(c1) == [("hello",), ("menu",)]
        assert sh.ops(c1)[:2] == ["POST /channels/C/answer 204", "POST /channels/C/play/C-pb1 201"]
        assert [e["node"] for e in events(logs, "resume_node_missing")] == ["retired"]
        assert "resume" not in [e.kind for e in sh.call_events(c1)]
        assert {r.id for r in sh.rows(c1)} == {resume.call_id(c1)}
        saved_now = resume.saved_on(fake.channels[c1].json()["channelvars"])
        assert saved_now is not None and saved_now.node == "menu"


async def test_call_listed_before_its_stasis_start_is_a_new_call(tmp_path: Path) -> None:
    """A call that enters Stasis between the socket opening and reconcile's channel
    list (ringing, nothing saved) is started as a new call: no predecessor's playbacks
    are stopped, and its StasisStart, read next, starts nothing more."""
    async with FakeAri() as fake:
        c1 = fake.add_channel()  # in Stasis, its StasisStart not yet read
        with structlog.testing.capture_logs() as logs:
            async with running_shell(FLOW, tmp_path, fake=fake) as sh:
                fake.push(m.stasis_start(fake.app, fake.channels[c1]))
                await sh.wait_play(c1, "menu")
                assert sh.ops(c1)[:2] == [
                    "POST /channels/C/answer 204",
                    "POST /channels/C/play/C-pb1 201",
                ]
                assert fake.find("DELETE", "/playbacks/*", channel=c1) == []
                assert sh.dispatcher.calls_started == 1
        assert [e["channel_id"] for e in events(logs, "reconcile_new")] == [c1]
        assert not events(logs, "reconcile_adopt")
        assert [e["adopted"] for e in events(logs, "call_started")] == [False]
