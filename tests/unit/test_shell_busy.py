"""``controller.max_calls`` through the ARI shell, against the fake ARI server: a new
caller over the cap is passed at once to the dialplan's short busy message
(``SHARED(IVR_BUSY)=1``, extensions.conf) and recorded as ``busy``, while the calls
being served go on; calls in progress (taken over, resumed) are never refused."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from ivr.call import resume
from ivr.call.dispatcher import BUSY
from tests.fakeari.shell import Shell, running_shell

FLOW = """\
version: 1
name: shell busy test
start: hello
settings:
  pause_after_input: 0
  menu_timeout: 5
  max_retries: 1
  invalid_prompt: null
  timeout_prompt: null
prompts:
  hello: {text: お電話ありがとうございます。, file: hello.wav}
  menu: {text: 案内は1を、終了は9を押してください。, file: menu.wav}
  info: {text: ご案内します。, file: info.wav}
  bye: {text: お電話ありがとうございました。, file: bye.wav}
nodes:
  hello: {type: play, prompt: hello, next: menu, interruptible: false}
  menu:
    type: menu
    prompt: menu
    choices: {"1": info, "9": bye}
    on_exhausted: bye
  info: {type: play, prompt: info, next: bye}
  bye: {type: hangup, prompt: bye, outcome: completed}
"""

MENU = "sound:/snd/uploads/menu"
INFO = "sound:/snd/uploads/info"
STATE = resume.listed(resume.VAR)
REFUSED_OPS = ["POST SHARED(IVR_BUSY) 204", "POST /channels/C/continue 204"]


def _cap(sh: Shell, max_calls: int) -> None:
    """As the controller wires it: the cap, and the recorder busy calls go to."""
    sh.dispatcher.max_calls = max_calls
    sh.dispatcher.recorder = sh.recorder


async def test_caller_over_the_cap_hears_busy_while_the_others_go_on(tmp_path: Path) -> None:
    """max_calls 2: the third caller is passed to the busy message at once (never
    answered or played to by the controller) and recorded as busy with its number and
    the flow in service; the
    two callers served go on through the menu; once one ends, a new caller is served."""
    async with running_shell(FLOW, tmp_path) as sh:
        _cap(sh, 2)
        fake = sh.fake
        fake.durations[MENU] = fake.durations[INFO] = None
        c1 = fake.start_call(caller="0312345678")
        c2 = fake.start_call(caller="09087654321")
        await sh.wait_play(c1, "menu")
        await sh.wait_play(c2, "menu")
        with structlog.testing.capture_logs() as logs:
            c3 = fake.start_call(caller="09011112222", exten="0501230000")
            await fake.wait_for(lambda: c3 in fake.continued)
            await fake.wait_for(lambda: c3 not in fake.channels)
        assert sh.ops(c3, with_state=True) == REFUSED_OPS
        assert [e["channel_id"] for e in logs if e["event"] == "call_refused_busy"] == [c3]
        (row,) = sh.rows(c3)
        assert (row.outcome, row.caller, row.dialled) == (BUSY, "09011112222", "0501230000")
        assert row.answered_at is None and row.ended_at is not None and row.path == ()
        assert (row.flow_version, row.flow_digest) == (sh.service.version, sh.service.digest)
        assert sh.dispatcher.calls_refused == 1 and c3 not in sh.dispatcher.sessions

        fake.press(c1, "1")  # the calls served are untouched
        await sh.wait_play(c1, "info")
        fake.press(c2, "9")
        await sh.wait_play(c2, "bye")
        await fake.wait_request("DELETE", f"/channels/{c2}")
        await sh.wait_ended(c2)
        c4 = fake.start_call(caller="09055556666")  # one place free again
        await sh.wait_play(c4, "menu")
        assert c4 not in fake.continued and sh.dispatcher.calls_refused == 1
        assert sh.rows(c2)[-1].outcome == "completed"


async def test_no_cap_by_default(tmp_path: Path) -> None:
    """max_calls 0 (the default): many callers at once are all served."""
    async with running_shell(FLOW, tmp_path) as sh:
        sh.dispatcher.recorder = sh.recorder
        fake = sh.fake
        fake.durations[MENU] = None
        calls = [fake.start_call(caller=f"0901111000{i}") for i in range(6)]
        for c in calls:
            await sh.wait_play(c, "menu")
        assert fake.continued == [] and sh.dispatcher.calls_refused == 0


async def test_calls_in_progress_are_never_refused(tmp_path: Path) -> None:
    """max_calls 1: three calls a dead controller left (found at reconcile: two with
    their places saved, one answered before its first save) are all taken over, and a
    call entering Stasis again with its place saved (held through a restart) is served
    too; only a new caller hears busy."""
    async with running_shell(FLOW, tmp_path, wait_connected=False) as sh:
        _cap(sh, 1)
        fake = sh.fake
        fake.durations[MENU] = None
        await sh.wait_reconciled()
        await fake.cut()
        saved = sh.saved_state("menu", path=("hello", "menu"))
        a1 = fake.add_channel(state="Up", variables={STATE: saved})
        a2 = fake.add_channel(state="Up", variables={STATE: saved})
        a3 = fake.add_channel(state="Up")
        back = time.monotonic()
        fake.restore()
        await sh.wait_reconciled(since=back)
        await sh.wait_play(a1, "menu")
        await sh.wait_play(a2, "menu")
        await sh.wait_play(a3, "hello")

        held = fake.start_call(state="Up", variables={STATE: saved})
        await sh.wait_play(held, "menu")
        new = fake.start_call(caller="09077778888")
        await fake.wait_for(lambda: new in fake.continued)
        assert sh.ops(new, with_state=True) == REFUSED_OPS
        assert [c for c in (a1, a2, a3, held) if c in fake.continued] == []
        assert set(sh.dispatcher.sessions) == {a1, a2, a3, held}
        assert sh.dispatcher.calls_refused == 1
