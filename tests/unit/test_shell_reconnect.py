"""The ARI shell when the events WebSocket fails, against the fake ARI server:
reconnect with backoff, reconcile after every connection, and the failures of
reconcile and of authentication (``docs/architecture.md``, "When things fail")."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
import structlog

from ivr.ari import connection as ari_connection
from tests.fakeari import FakeAri
from tests.fakeari.flows import menu_flow
from tests.fakeari.shell import events, running_shell

FLOW = menu_flow(
    "shell reconnect test",
    menu_text="案内は1を押してください。",
    choices='{"1": info}',
    outcome=None,
)

HELLO = "sound:/snd/uploads/hello"
MENU = "sound:/snd/uploads/menu"
BACKOFF = (0.05, 0.4)


@pytest.fixture
def jitter_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter always draws its upper bound: the backoff becomes deterministic."""
    monkeypatch.setattr(ari_connection.random, "uniform", lambda low, high: high)


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


def assert_backoff(times: list[float], start: float = BACKOFF[0]) -> None:
    """Successive waits double from ``start`` up to the cap (never shorter)."""
    expected = start
    for gap in gaps(times):
        assert gap >= expected * 0.9, (gaps(times), expected)
        assert gap < expected + 0.5, (gaps(times), expected)  # nor stuck
        expected = min(expected * 2, BACKOFF[1])


@pytest.mark.usefixtures("jitter_at_most")
async def test_dropped_socket_reconnects_with_growing_backoff(tmp_path: Path) -> None:
    """When the WebSocket drops and Asterisk refuses new ones for a while, the client
    retries with doubling waits, reconnects, and reconciles again."""
    async with running_shell(FLOW, tmp_path, backoff=BACKOFF) as sh:
        fake = sh.fake
        with structlog.testing.capture_logs() as logs:
            dropped = time.monotonic()
            await fake.cut()
            await fake.wait_for(lambda: len(fake.ws_attempts) >= 5)  # the first + 4 refused
            fake.restore()
            await sh.wait_reconciled(since=dropped)
        attempts = [a for a in fake.ws_attempts if a.at >= dropped]
        assert [a.status for a in attempts] == [503, 503, 503, 503, 101]
        assert_backoff([dropped] + [a.at for a in attempts])
        assert [e["event"] for e in logs if e["event"].startswith("ari_")][:2] == [
            "ari_disconnected",
            "ari_lost",
        ]
        assert len(events(logs, "ari_connect_failed")) == 4
        assert sh.connection.connects == 2


async def test_reconnect_reconciles_adopts_ends_and_resyncs(tmp_path: Path) -> None:
    """After a reconnect: a call that entered Stasis meanwhile is adopted and its
    predecessor's playbacks (<channel>-pb0..3) are stopped first; a call whose caller
    left meanwhile is ended without asking ARI anything; a surviving call asks
    whether its playback still runs."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[MENU] = None  # both calls wait in the menu prompt
        stay = fake.start_call(caller="0312345678")
        gone = fake.start_call(caller="09011112222")
        stay_menu = await sh.wait_play(stay, "menu")
        await sh.wait_play(gone, "menu")
        await sh.quiet()  # nothing in flight when the socket goes
        with structlog.testing.capture_logs() as logs:
            await fake.cut()
            fake.caller_hangup(gone)  # its hang-up events are lost
            # Answered by a controller that died while its menu played: its StasisStart
            # (long ago) reached nobody alive.
            new = fake.add_channel(caller="09033334444", state="Up")
            fake.play_orphan(new, f"{new}-pb2", MENU)  # left by a controller that died
            back = time.monotonic()
            fake.restore()
            await sh.wait_reconciled(since=back)
            await sh.wait_ended(gone)
            await fake.wait_request("GET", "/playbacks/*", channel=stay, since=back)
            await fake.wait_for(lambda: len(fake.find("DELETE", "/playbacks/*", new)) == 4)

        assert [r for r in fake.requests_for(gone) if r.at >= back] == []

        stops = [
            f"{r.method} {r.route.replace(new, 'N')} {r.status}" for r in fake.requests_for(new)
        ]
        assert stops[:4] == [
            "DELETE /playbacks/N-pb0 404",
            "DELETE /playbacks/N-pb1 404",
            "DELETE /playbacks/N-pb2 204",
            "DELETE /playbacks/N-pb3 404",
        ]
        orphan = next(p for p in fake.played if p.id == f"{new}-pb2")
        assert orphan.stopped and orphan.state == "done"
        assert new in sh.dispatcher.sessions

        resync = fake.find("GET", "/playbacks/*", channel=stay, since=back)
        menu_id = stay_menu.route.rsplit("/", 1)[1]
        assert [r.route for r in resync] == [f"/playbacks/{menu_id}"]
        assert resync[0].status == 200 and stay in sh.dispatcher.sessions

        assert [e["channel_id"] for e in events(logs, "reconcile_adopt")] == [new]
        assert [e["channel_id"] for e in events(logs, "reconcile_gone")] == [gone]


async def test_event_lost_during_outage_is_recovered_by_resync(tmp_path: Path) -> None:
    """A PlaybackFinished lost while the socket is cut (Asterisk drops it) leaves the
    call waiting; the resync after the reconnect finds the playback gone and the
    call moves on to its next prompt."""
    async with running_shell(FLOW, tmp_path) as sh:
        fake = sh.fake
        fake.durations[HELLO] = 0.3
        fake.drop(lambda e: e["type"] == "PlaybackFinished" and e["playback"]["media_uri"] == HELLO)
        with structlog.testing.capture_logs() as logs:
            c1 = fake.start_call()
            hello = await sh.wait_play(c1, "hello")
            hello_id = hello.route.rsplit("/", 1)[1]
            await fake.wait_for(lambda: any(e["type"] == "PlaybackStarted" for e in fake.events))
            await fake.cut()
            await fake.wait_for(lambda: fake.dropped)  # hello has ended, unseen
            await asyncio.sleep(0.3)
            assert sh.plays(c1) == [("hello",)]  # the call waits: silence for the caller
            back = time.monotonic()
            fake.restore()
            menu = await sh.wait_play(c1, "menu", since=back)
        check = fake.find("GET", f"/playbacks/{hello_id}", since=back)
        assert [r.status for r in check] == [404] and check[0].at < menu.at
        assert [e["event"] for e in logs].count("playback_end_missed") == 1


@pytest.mark.parametrize("trouble", ["500", "hang"])
async def test_reconcile_failure_drops_the_connection_and_retries(
    tmp_path: Path, trouble: str
) -> None:
    """When listing the channels fails (an error or no answer) right after connecting,
    the connection is closed and made again, and reconcile runs on the new one."""
    async with FakeAri() as fake:
        if trouble == "500":
            fake.fail("GET", "/channels", 500)
        else:
            fake.hang("GET", "/channels")
        with structlog.testing.capture_logs() as logs:
            async with running_shell(
                FLOW, tmp_path, fake=fake, request_timeout=0.3, wait_connected=False
            ) as sh:
                await fake.wait_for(lambda: [a.status for a in fake.ws_attempts] == [101, 101])
                await sh.wait_reconciled(since=fake.ws_attempts[1].at)
                first, second = fake.ws_attempts
                assert first.closed_at is not None and first.closed_at <= second.at
                assert second.closed_at is None and sh.connection.connected.is_set()
                lists = fake.find("GET", "/channels")
                assert [r.status for r in lists] == [500 if trouble == "500" else 0, 200]
                c1 = fake.start_call()  # and calls are served on the new connection
                await sh.wait_play(c1, "hello")
        assert len(events(logs, "reconcile_failed")) == 1
        assert len(events(logs, "ari_connected")) == 2


@pytest.mark.usefixtures("jitter_at_most")
async def test_reconcile_failing_for_good_backs_off(tmp_path: Path) -> None:
    """While listing the channels keeps failing, reconnections back off like failed
    connections do (Asterisk is not hammered)."""
    async with FakeAri() as fake:
        fake.fail("GET", "/channels", 500, times=None)
        async with running_shell(
            FLOW, tmp_path, fake=fake, backoff=BACKOFF, wait_connected=False
        ) as sh:
            await asyncio.sleep(1.0)
            assert not sh.connection.ready.is_set()  # never serving half-informed
            assert len(fake.ws_attempts) <= 6  # 0.05 + 0.1 + 0.2 + 0.4 + 0.4 ...
            assert_backoff([a.at for a in fake.ws_attempts])


@pytest.mark.usefixtures("jitter_at_most")
async def test_backoff_starts_afresh_only_after_a_connection_that_lasted(
    tmp_path: Path,
) -> None:
    """A connection that was reconciled and stayed up (``stable_after``) resets the
    backoff: when it drops, the first retry waits the shortest time again; one that
    drops at once does not, and the waits keep growing."""
    async with running_shell(FLOW, tmp_path, backoff=BACKOFF, stable_after=0.3) as sh:
        fake = sh.fake
        dropped = time.monotonic()
        await fake.cut()
        await fake.wait_for(lambda: len(fake.ws_attempts) >= 4)  # waits 0.05, 0.1, 0.2
        fake.restore()
        await sh.wait_reconciled(since=dropped)
        short = time.monotonic()
        await fake.drop_ws()  # at once: not a connection that worked
        await sh.wait_reconciled(since=short)
        await asyncio.sleep(0.4)  # this one lasts
        lasted = time.monotonic()
        await fake.drop_ws()
        await sh.wait_reconciled(since=lasted)
        after_short = next(a.at for a in fake.ws_attempts if a.at > short) - short
        after_lasted = next(a.at for a in fake.ws_attempts if a.at > lasted) - lasted
        assert after_short >= 0.4 * 0.9  # 0.05, 0.1, 0.2, 0.4 ...: still growing
        assert after_lasted < 0.2  # the shortest wait again


@pytest.mark.usefixtures("jitter_at_most")
async def test_refused_credentials_are_retried_with_backoff(tmp_path: Path) -> None:
    """A 401 on the WebSocket (wrong ARI password) is retried with doubling waits and
    never ends the connection task; once the password is right, calls are served."""
    async with FakeAri() as fake:
        fake.users["ivr"] = "rotated"
        with structlog.testing.capture_logs() as logs:
            async with running_shell(
                FLOW, tmp_path, fake=fake, backoff=BACKOFF, wait_connected=False
            ) as sh:
                await fake.wait_for(lambda: len(fake.ws_attempts) >= 4)
                assert {a.status for a in fake.ws_attempts} == {401}
                assert_backoff([a.at for a in fake.ws_attempts[:4]], start=BACKOFF[0])
                assert not sh.connection.connected.is_set()
                fake.users["ivr"] = "secret"  # the operator fixes ari.conf
                await sh.wait_reconciled()
                c1 = fake.start_call()
                await sh.wait_play(c1, "hello")
        failed = events(logs, "ari_connect_failed")
        assert len(failed) >= 4 and all("401" in e["error"] for e in failed)
