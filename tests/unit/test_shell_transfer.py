"""Transfers through the ARI shell, against the fake ARI server and its fake
``[ivr-transfer]`` (``tests/fakeari/dialplan.py``): the session hands the caller to the
dialplan's Dial() and the transfer's watch follows the channel over an application
subscription; an unanswered dial comes back into the flow with its outcome; capacity
and the trunk's limit route the flow; a stopping or restarting controller never
touches a conversation (docs/architecture.md, "Transfers to city lines")."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
import structlog

from ivr.call import resume
from ivr.config import TransferSettings
from ivr.log import TOKYO
from ivr.transfer.model import Target, TargetSet
from ivr.transfer.watch import Attempt
from tests.fakeari import CityPhone, FakeAri
from tests.fakeari import model as m
from tests.fakeari.flows import RETRY_PROMPTS, shell_flow
from tests.fakeari.shell import Shell, events, running_shell

FLOW = shell_flow(
    "shell transfer test",
    {
        "menu": "職員とのお話は0を押してください。",
        "connecting": "担当の職員におつなぎします。",
        "busy": "ただいま担当の電話がふさがっております。",
        "no_answer": "ただいま担当の職員が電話に出られません。",
        "crowded": "ただいま大変混み合っております。",
        "sorry": "おつなぎできませんでした。",
        **RETRY_PROMPTS,
    },
    """\
  hello: {type: play, prompt: hello, next: menu, interruptible: false}
  menu:
    type: menu
    prompt: menu
    choices: {"0": staff, "9": bye}
    on_exhausted: bye
  staff:
    type: transfer
    target: kokuho
    prompt: connecting
    fallback: sorry
    on: {busy: busy, no_answer: no_answer, capacity: crowded}
  busy: {type: play, prompt: busy, next: bye}
  no_answer: {type: play, prompt: no_answer, next: bye}
  crowded: {type: play, prompt: crowded, next: bye}
  sorry: {type: play, prompt: sorry, next: bye}
  bye: {type: hangup, prompt: bye}
""",
)

KOKUHO = Target("kokuho", "0312345678", label="国保課", max_calls=2, ring_seconds=20)
TARGETS = TargetSet((KOKUHO,))
SETTINGS = TransferSettings(db_timeout=0.5)
STATE = "SHARED(IVR_STATE)"


async def _to_staff(sh: Shell, caller: str = "09012345678") -> str:
    """A call that presses 0 at the menu; returns once it is on its way to Dial()."""
    fake = sh.fake
    c1 = fake.start_call(caller=caller)
    await sh.wait_play(c1, "menu")
    fake.press(c1, "0")
    return c1


async def _dialled(sh: Shell, c1: str, timeout: float = 3.0) -> None:
    await sh.fake.wait_for(lambda: c1 in sh.fake.dialplan.active, timeout)


def _saved(sh: Shell, channel_id: str) -> resume.Saved:
    found = resume.saved_on(sh.fake.channels[channel_id].json()["channelvars"])
    assert found is not None
    return found


async def test_answered_transfer_is_dialled_by_the_dialplan_and_recorded(tmp_path: Path) -> None:
    """0 → 「おつなぎします」, then the dial values, the attempt and the subscription are put
    on the channel, its place saved as leg: transfer, and it is continued to
    [ivr-transfer] — never hung up; Dial() rings the target with the help line's number;
    when staff hang up the record is closed as transferred with ring and talk time."""
    async with running_shell(FLOW, tmp_path, transfer=SETTINGS, targets=TARGETS) as sh:
        fake = sh.fake
        fake.city = CityPhone("ANSWER", after=0.2)
        with structlog.testing.capture_logs() as logs:
            c1 = await _to_staff(sh)
            await sh.wait_play(c1, "connecting")
            await _dialled(sh, c1)
            await sh.quiet()
            ops = sh.ops(c1, with_state=True)
            assert ops[ops.index("POST SHARED(IVR_XFER_TARGET) 204") :] == [
                "POST SHARED(IVR_XFER_TARGET) 204",
                "POST SHARED(IVR_XFER_NUMBER) 204",
                "POST SHARED(IVR_XFER_ENDPOINT) 204",
                "POST SHARED(IVR_XFER_RING) 204",
                "POST SHARED(IVR_XFER_CID) 204",
                "POST SHARED(IVR_XFER_LAST4) 204",
                "POST SHARED(IVR_XFER_RESULT) 204",
                "POST SHARED(IVR_XFER_ANSWERED) 204",
                "POST SHARED(IVR_XFER) 204",
                "POST /applications/myna-ivr/subscription 200",
                "POST SHARED(IVR_STATE) 204",
                "POST /channels/C/continue 204",
            ]
            cont = fake.find("POST", f"/channels/{c1}/continue")
            assert [
                (r.param("context"), r.param("extension"), r.param("priority")) for r in cont
            ] == [("ivr-transfer", "s", "1")]
            dial = fake.dials[-1]
            assert (dial.dial_string, dial.ring, dial.caller_id, dial.last4) == (
                "PJSIP/0312345678@trunk",
                "20",
                "0501234567",  # the help line (the number dialled), not the caller's
                "",
            )
            saved = _saved(sh, c1)
            assert (saved.node, saved.leg) == ("staff", resume.LEG_TRANSFER)
            await fake.wait_for(lambda: fake.dials[-1].status == "ANSWER")
            assert c1 not in sh.dispatcher.sessions  # the session is done: the watch follows
            fake.end_transfer(c1)
            await fake.wait_for(lambda: sh.transfers is not None and not sh.transfers.watches)
            await sh.quiet()
        assert fake.find("DELETE", f"/channels/{c1}") == []  # never hung up by the controller
        rows = sh.rows(c1)
        assert {r.id for r in rows} == {resume.call_id(c1)}
        assert rows[-1].outcome == "transferred" and rows[-1].ended_at is not None
        assert rows[-1].path == ("hello", "menu", "staff")
        assert rows[-1].rev == max(r.rev for r in rows)
        kinds = [(e.kind, e.node, e.detail.get("outcome")) for e in sh.call_events(c1)]
        assert kinds[-1] == ("transfer", "staff", "answered")
        assert "hangup" not in [k for k, _, _ in kinds]
        assert sh.attempts is not None
        (attempt,) = sh.attempts.final()
        assert (attempt.target, attempt.number, attempt.outcome) == (
            "kokuho",
            "0312345678",
            "answered",
        )
        assert attempt.ring_seconds is not None and 0.1 < attempt.ring_seconds < 2
        assert attempt.talk_seconds is not None and attempt.talk_seconds >= 0
        assert sh.transfers is not None and sh.transfers.slots.held == {}
        assert not events(logs, "call_summary")  # the session did not end the call
        assert [e["outcome"] for e in events(logs, "transfer_ended")] == ["answered"]


@pytest.mark.parametrize(
    ("status", "outcome", "heard"),
    [
        ("BUSY", "busy", "busy"),
        ("NOANSWER", "no_answer", "no_answer"),
        ("CONGESTION", "failed", "sorry"),  # not routed: the fallback
    ],
)
async def test_unanswered_transfer_comes_back_and_takes_its_route(
    tmp_path: Path, status: str, outcome: str, heard: str
) -> None:
    """A Dial that does not connect re-enters Stasis with its DIALSTATUS: the call goes on
    in its own record at the transfer node's route for that outcome (no Answer, the
    announcement not repeated), the attempt is recorded and the slot freed."""
    async with running_shell(FLOW, tmp_path, transfer=SETTINGS, targets=TARGETS) as sh:
        fake = sh.fake
        fake.city = CityPhone(status, after=0.05)
        fake.durations[f"sound:/snd/uploads/{heard}"] = None  # plays until a key
        c1 = await _to_staff(sh)
        back = await sh.wait_play(c1, heard, timeout=5)
        await sh.quiet()
        assert (_saved(sh, c1).node, _saved(sh, c1).leg) == (heard, resume.LEG_MENU)
        fake.press(c1, "1")  # skips the play node: bye
        await fake.wait_request("DELETE", f"/channels/{c1}", timeout=5)
        await sh.wait_ended(c1)
        await sh.quiet()
        assert sh.plays(c1) == [("hello",), ("menu",), ("connecting",), (heard,), ("bye",)]
        after = [r for r in fake.requests_for(c1) if r.at >= back.at]
        assert all("answer" not in r.route for r in after)
        rows = sh.rows(c1)
        assert {r.id for r in rows} == {resume.call_id(c1)}
        assert rows[-1].outcome == "completed"
        assert rows[-1].path == ("hello", "menu", "staff", heard, "bye")
        transfer = [e for e in sh.call_events(c1) if e.kind == "transfer"]
        assert [(e.node, e.detail["outcome"]) for e in transfer] == [("staff", outcome)]
        assert sh.attempts is not None
        (attempt,) = sh.attempts.final()
        assert attempt.outcome == outcome and attempt.ended_at is not None
        assert sh.transfers is not None and sh.transfers.slots.held == {}
        assert fake.find("DELETE", "/applications/myna-ivr/subscription", channel=c1)


async def test_caller_hanging_up_while_it_rings_cancels_the_dial(tmp_path: Path) -> None:
    """The caller hangs up while the city phone rings: Dial() cancels the outbound leg
    (no channel is left), the attempt is recorded as abandoned, the record closed as
    caller_hangup, the slot freed; the controller sent no hang-up of its own."""
    async with running_shell(FLOW, tmp_path, transfer=SETTINGS, targets=TARGETS) as sh:
        fake = sh.fake
        fake.city = CityPhone("ANSWER", after=30)  # rings and rings
        c1 = await _to_staff(sh)
        await _dialled(sh, c1)
        peer = fake.dials[-1].peer.id
        fake.caller_hangup(c1)
        assert sh.transfers is not None
        await fake.wait_for(lambda: not sh.transfers.watches)
        await sh.quiet()
        assert peer not in fake.channels and c1 not in fake.channels
        assert fake.dials[-1].status == "CANCEL"
        assert fake.find("DELETE", f"/channels/{c1}") == []
        rows = sh.rows(c1)
        assert rows[-1].outcome == "caller_hangup" and rows[-1].ended_at is not None
        kinds = [
            (e.kind, e.detail.get("outcome") or e.detail.get("phase")) for e in sh.call_events(c1)
        ]
        assert kinds[-2:] == [("transfer", "abandoned"), ("hangup", "transfer")]
        assert sh.attempts is not None
        assert [a.outcome for a in sh.attempts.final()] == ["abandoned"]
        assert sh.transfers.slots.held == {}


async def test_target_capacity_gives_the_capacity_route(tmp_path: Path, database_dsn: str) -> None:
    """With kokuho taking one caller at a time (slots counted in PostgreSQL), a second
    caller who asks for staff while the first is connected hears 「混み合って」 and is
    never dialled; the first call's slot is freed when it ends."""
    one = TargetSet((replace(KOKUHO, max_calls=1),))
    async with running_shell(
        FLOW, tmp_path, transfer=SETTINGS, targets=one, dsn=database_dsn
    ) as sh:
        fake = sh.fake
        c1 = await _to_staff(sh)
        await fake.wait_for(lambda: fake.dials and fake.dials[-1].status == "ANSWER")
        assert sh.transfers is not None
        assert await sh.transfers.slots.count("kokuho") == 1
        c2 = await _to_staff(sh, caller="09087654321")
        await sh.wait_play(c2, "crowded", timeout=5)
        assert len(fake.dials) == 1 and fake.find("POST", f"/channels/{c2}/continue") == []
        assert sh.attempts is not None
        assert [(a.channel_id, a.outcome) for a in sh.attempts.final()][-1] == (c2, "capacity")
        fake.end_transfer(c1)
        await fake.wait_for(lambda: not sh.transfers.watches)
        await sh.quiet()
        assert await sh.transfers.slots.count("kokuho") == 0


async def test_capacity_is_counted_locally_while_the_database_is_away(tmp_path: Path) -> None:
    """With no database, transfers go on from the targets in service and this
    controller's own count: the second caller gets the capacity route all the same."""
    one = TargetSet((replace(KOKUHO, max_calls=1),))
    async with running_shell(FLOW, tmp_path, transfer=SETTINGS, targets=one) as sh:
        fake = sh.fake
        with structlog.testing.capture_logs() as logs:
            c1 = await _to_staff(sh)
            await _dialled(sh, c1)
            c2 = await _to_staff(sh, caller="09087654321")
            await sh.wait_play(c2, "crowded", timeout=5)
        assert len(fake.dials) == 1
        assert [e["held"] for e in events(logs, "transfer_slots_local")] == [0, 1]


async def test_trunk_limit_refuses_transfers_and_new_callers(tmp_path: Path) -> None:
    """trunk_channels: 3. One transfer talking holds two trunk channels and a caller in
    the menu one: that caller's transfer would pass the limit (trunk_capacity → the
    capacity route), and a new caller is passed to the dialplan's short busy message
    (SHARED(IVR_BUSY)=1, no answer from the controller), recorded as trunk_busy."""
    limited = replace(SETTINGS, trunk_channels=3)
    async with running_shell(FLOW, tmp_path, transfer=limited, targets=TARGETS) as sh:
        fake = sh.fake
        c1 = await _to_staff(sh)
        await fake.wait_for(lambda: fake.dials and fake.dials[-1].status == "ANSWER")
        c2 = fake.start_call(caller="09087654321")
        await sh.wait_play(c2, "menu")
        c3 = fake.start_call(caller="09011112222")  # 4 channels: one more than the limit
        await fake.wait_for(lambda: c3 in fake.continued)
        await sh.wait_ended(c3)
        fake.press(c2, "0")
        await sh.wait_play(c2, "crowded", timeout=5)
        await sh.quiet()
        assert len(fake.dials) == 1
        assert sh.ops(c3, with_state=True) == [
            "POST SHARED(IVR_BUSY) 204",
            "POST /channels/C/continue 204",
        ]
        assert sh.rows(c3)[-1].outcome == "trunk_busy" and sh.rows(c3)[-1].answered_at is None
        assert sh.attempts is not None
        assert [a.outcome for a in sh.attempts.final() if a.channel_id == c2] == ["trunk_capacity"]
        fake.end_transfer(c1)


async def test_unknown_target_and_disabled_transfers_take_the_fallback(tmp_path: Path) -> None:
    """A flow naming a target that is not (or no longer) published fails the transfer at
    once (fallback), logged; nothing is dialled."""
    async with running_shell(FLOW, tmp_path, transfer=SETTINGS, targets=TargetSet()) as sh:
        with structlog.testing.capture_logs() as logs:
            c1 = await _to_staff(sh)
            await sh.wait_play(c1, "sorry", timeout=5)
        assert sh.fake.dials == [] and sh.fake.find("POST", f"/channels/{c1}/continue") == []
        assert [e["reason"] for e in events(logs, "transfer_refused")] == ["unknown_target"]


async def test_stopping_controller_never_touches_a_conversation(tmp_path: Path) -> None:
    """SIGTERM's hand-over passes menu calls to the dialplan but sends nothing for a
    caller talking to staff; the next controller finds it in Dial() (leg: transfer),
    only subscribes to it again, and closes its record as transferred when it ends."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with FakeAri(channelvars=m.ari_conf_channelvars()) as fake:
        async with running_shell(
            FLOW, tmp_path / "a", fake=fake, transfer=SETTINGS, targets=TARGETS
        ) as first:
            c1 = await _to_staff(first)
            await fake.wait_for(lambda: fake.dials and fake.dials[-1].status == "ANSWER")
            c2 = fake.start_call(caller="09087654321")
            await first.wait_play(c2, "menu")
            await first.quiet()
            stop = time.monotonic()
            await first.dispatcher.hand_over()
            await fake.wait_for(lambda: c2 in fake.continued)
            assert [r for r in fake.requests_for(c1) if r.at >= stop] == []
            before = first.rows(c1)
        async with running_shell(
            FLOW, tmp_path / "b", fake=fake, transfer=SETTINGS, targets=TARGETS
        ) as second:
            assert second.transfers is not None
            await fake.wait_for(lambda: c1 in second.transfers.watches)
            await second.quiet()
            assert [str(r).replace(c1, "C") for r in fake.requests_for(c1) if r.at >= stop] == [
                "POST /applications/myna-ivr/subscription -> 200"
            ]
            assert c1 not in second.dispatcher.sessions
            fake.end_transfer(c1)
            await fake.wait_for(lambda: not second.transfers.watches)
            after = second.rows(c1)
            flow_events = second.call_events(c1)
        assert {r.id for r in before + after} == {resume.call_id(c1)}
        assert after[-1].outcome == "transferred" and after[-1].path == ("hello", "menu", "staff")
        assert min(r.rev for r in after) > max(r.rev for r in before)
        assert [(e.kind, e.detail["outcome"]) for e in flow_events] == [("transfer", "answered")]
        assert flow_events[0].seq > max(e.seq for e in first.call_events(c1))
        assert second.attempts is not None
        (attempt,) = second.attempts.final()
        assert attempt.outcome == "answered" and attempt.talk_seconds is not None


async def test_reconcile_frees_a_crashed_controllers_slots(
    tmp_path: Path, database_dsn: str
) -> None:
    """A controller that died left a slot in PostgreSQL for a caller who has since hung
    up, and one for a caller still talking: the next controller connecting to that
    Asterisk frees the first (its attempt marked ended_unseen) and keeps the second."""
    conn = await asyncpg.connect(database_dsn)
    try:
        async with FakeAri(channelvars=m.ari_conf_channelvars()) as fake:
            gone, talking = "1746061200.901", None
            attempt_gone = Attempt(
                uuid.uuid4(), resume.call_id(gone), "staff", "kokuho", "0312345678",
                "trunk", datetime.now(TOKYO), "0501234567",
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO transfer_attempts (id, call_id, channel_id, target, started_at)"
                " VALUES ($1, $2, $3, 'kokuho', now())",
                attempt_gone.id, attempt_gone.call_id, gone,
            )  # fmt: skip
            (tmp_path / "x").mkdir()
            async with running_shell(
                FLOW, tmp_path / "x", fake=fake, transfer=SETTINGS, targets=TARGETS,
                dsn=database_dsn,
            ) as sh:  # fmt: skip
                saved = sh.saved_state(
                    "staff", leg=resume.LEG_TRANSFER, path=("hello", "menu", "staff")
                )
                attempt = replace(attempt_gone, id=uuid.uuid4(), call_id=resume.call_id("x"))
                talking = fake.add_transferred(
                    saved, attempt.encode(), answered=f"{time.time():.3f}"
                )
                for channel_id, a in ((gone, attempt_gone), (talking, attempt)):
                    await conn.execute(
                        "INSERT INTO transfer_slots (channel_id, node, target, attempt_id, call_id,"
                        " expires_at) VALUES ($1, $2, 'kokuho', $3, $4, now() + interval '5 min')"
                        " ON CONFLICT (channel_id) DO NOTHING",
                        channel_id, m.ASTERISK_ID, a.id, a.call_id,
                    )  # fmt: skip
                back = time.monotonic()
                await fake.drop_ws()  # the connection comes back: reconcile
                await sh.wait_reconciled(since=back)
                assert sh.transfers is not None
                await fake.wait_for(lambda: talking in sh.transfers.watches)
                slots = await conn.fetch("SELECT channel_id FROM transfer_slots ORDER BY 1")
                assert [r["channel_id"] for r in slots] == [talking]
                row = await conn.fetchrow(
                    "SELECT outcome, ended_at FROM transfer_attempts WHERE id = $1", attempt_gone.id
                )
                assert row["outcome"] == "ended_unseen" and row["ended_at"] is not None
                fake.end_transfer(talking)
                await fake.wait_for(lambda: not sh.transfers.watches)
                await sh.quiet()
            assert await conn.fetchval("SELECT count(*) FROM transfer_slots") == 0
    finally:
        await conn.execute("DELETE FROM transfer_slots; DELETE FROM transfer_attempts")
        await conn.close()


async def test_a_call_back_from_dial_while_no_controller_ran_resumes_with_its_outcome(
    tmp_path: Path,
) -> None:
    """Dial() came back BUSY while no controller was connected: the dialplan held the
    caller and re-entered Stasis as inbound; the controller that gets the call resumes
    it at the transfer node with the outcome the channel carries (the busy route)."""
    async with running_shell(FLOW, tmp_path, transfer=SETTINGS, targets=TARGETS) as sh:
        fake = sh.fake
        saved = sh.saved_state("staff", leg=resume.LEG_TRANSFER, path=("hello", "menu", "staff"))
        c1 = fake.start_call(
            state="Up",
            variables={STATE: saved, "SHARED(IVR_XFER_RESULT)": "BUSY"},
        )
        await sh.wait_play(c1, "busy")
        await sh.quiet()
        assert sh.plays(c1)[:1] == [("busy",)]  # no announcement again ...
        assert sh.ops(c1)[0] == "POST /channels/C/play/C-pb1 201"  # ... and no Answer
        assert [(e.kind, e.detail.get("outcome")) for e in sh.call_events(c1)][:1] == [
            ("transfer", "busy")
        ]


def test_attempt_round_trips_through_its_channel_variable() -> None:
    """What a transfer leaves on its channel reads back identically (a restarted
    controller rebuilds the watch from it)."""
    a = Attempt(
        uuid.uuid4(), uuid.uuid4(), "staff", "kokuho", "0312345678", "trunk",
        datetime.now(TOKYO), "0501234567",
    )  # fmt: skip
    assert Attempt.decode(a.encode()) == a
    assert Attempt.decode("") is None and Attempt.decode("{") is None
    assert json.loads(a.encode())["u"] == "0312345678"
