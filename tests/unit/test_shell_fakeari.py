"""The fake ARI server speaks like Asterisk 22 where the shell listens: its events
decode into the controller's types, and its refusals reach AriClient with
Asterisk's status codes (404 unknown, 409 not in Stasis, 412 invalid state)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError, Gone
from tests.fakeari import FakeAri
from tests.fakeari import model as m


def test_event_shapes_decode_into_the_controller_types() -> None:
    """Every event the fake sends decodes as the shell expects; the rest stay OtherEvent."""
    chan = m.FakeChannel.inbound(
        "myna-ivr", channelvars=("SHARED(IVR_STATE)", "SHARED(IVR_HOLD_UNTIL)")
    )
    chan.variables["SHARED(IVR_STATE)"] = '{"n":"menu"}'
    start = ari.decode(m.stasis_start("myna-ivr", chan))
    assert isinstance(start, ari.StasisStart)
    assert start.args == ("inbound", "0501234567")
    assert start.channel.caller_number == "09012345678" and start.channel.in_app("myna-ivr")
    assert dict(start.channel.variables) == {"SHARED(IVR_STATE)": '{"n":"menu"}'}  # "" dropped
    assert ari.decode(m.dtmf("myna-ivr", chan, "#")) == ari.ChannelDtmfReceived(
        start.channel, "#", 120
    )
    assert isinstance(ari.decode(m.hangup_request("myna-ivr", chan)), ari.ChannelHangupRequest)
    assert isinstance(ari.decode(m.stasis_end("myna-ivr", chan)), ari.StasisEnd)
    destroyed = ari.decode(m.channel_destroyed("myna-ivr", chan))
    assert isinstance(destroyed, ari.ChannelDestroyed) and destroyed.cause == 16

    pb = m.FakePlayback.new(chan.id, f"{chan.id}-pb1", ["sound:/snd/a", "sound:/snd/b"])
    pb.state = "playing"
    started = ari.decode(m.playback_event("myna-ivr", pb))
    assert isinstance(started, ari.PlaybackStarted)
    assert ari.channel_of(started) == chan.id and started.playback.media_uri == "sound:/snd/a"
    pb.state = "continuing"
    assert isinstance(ari.decode(m.playback_event("myna-ivr", pb)), ari.OtherEvent)
    pb.index, pb.state = 1, "done"
    finished = ari.decode(m.playback_event("myna-ivr", pb))
    assert isinstance(finished, ari.PlaybackFinished) and finished.playback.state == "done"
    for other in (m.state_change("myna-ivr", chan), m.varset("myna-ivr", chan, "X", "1")):
        assert isinstance(ari.decode(other), ari.OtherEvent)


@pytest.fixture
async def fake_and_client() -> AsyncIterator[tuple[FakeAri, AriClient]]:
    async with FakeAri() as fake, aiohttp.ClientSession() as http:
        yield fake, AriClient(http, fake.url, "ivr", "secret", timeout=0.5)


async def test_client_reads_channel_refusals_as_gone(
    fake_and_client: tuple[FakeAri, AriClient],
) -> None:
    """Unknown channel (404), channel outside our app (409), channel in a state that
    cannot play (412) and unknown playback (404) reach the client as Gone; a server
    error on the same route does not."""
    fake, client = fake_and_client
    left = fake.add_channel(app_name="Dial", app_data="PJSIP/city-desk")
    down = fake.add_channel(state="Down")
    live = fake.add_channel()
    cases = {
        "unknown": client.answer("1746000000.999"),
        "left": client.play(left, f"{left}-pb1", ["sound:/snd/x"]),
        "down": client.answer(down),
        "playback": client.playback(f"{live}-pb3"),
        "stop": client.stop_playback(f"{live}-pb3"),
    }
    statuses = {}
    for name, call in cases.items():
        with pytest.raises(Gone) as gone:
            await call
        statuses[name] = gone.value.status
    assert statuses == {"unknown": 404, "left": 409, "down": 412, "playback": 404, "stop": 404}

    fake.fail("POST", "/channels/*/play/*", 500)
    with pytest.raises(AriError) as err:
        await client.play(live, f"{live}-pb1", ["sound:/snd/x"])
    assert err.value.status == 500 and not isinstance(err.value, Gone)


async def test_rest_basics_and_playback_lifecycle(
    fake_and_client: tuple[FakeAri, AriClient],
) -> None:
    """The channel list holds every channel (ours and others), a play answers 201 and
    runs its playlist, a stop ends it at once, and a wrong password gets 401."""
    fake, client = fake_and_client
    fake.durations["sound:/snd/long"] = None
    ours, other = fake.add_channel(), fake.add_channel(app_name="Dial", app_data="")
    listed = {c.id: c.in_app("myna-ivr") for c in await client.channels()}
    assert listed == {ours: True, other: False}
    assert (await client.asterisk_info())["system"]["version"].startswith("22.")

    await client.answer(ours)
    await client.play(ours, f"{ours}-pb1", ["sound:/snd/a", "sound:/snd/long"])
    assert (await client.playback(f"{ours}-pb1"))["state"] in ("playing", "queued")
    await fake.wait_for(lambda: fake.playbacks[f"{ours}-pb1"].index == 1)
    await client.stop_playback(f"{ours}-pb1")
    assert f"{ours}-pb1" not in fake.playbacks
    assert [(r.method, r.status) for r in fake.requests_for(ours)] == [
        ("POST", 204),
        ("POST", 201),
        ("GET", 200),
        ("DELETE", 204),
    ]
    assert fake.channels[ours].state == "Up"

    async with aiohttp.ClientSession() as http:
        wrong = AriClient(http, fake.url, "ivr", "guess", timeout=0.5)
        with pytest.raises(AriError) as err:
            await wrong.channels()
        assert err.value.status == 401


async def test_variables_and_continue_follow_the_channel_command_queue(
    fake_and_client: tuple[FakeAri, AriClient],
) -> None:
    """SHARED() through /asterisk/variable acts at once (204 even for an unknown channel)
    and shows in the channel's channelvars; a plain channel variable waits while a
    playback runs; a continue is answered at once but leaves Stasis once nothing plays."""
    fake, client = fake_and_client
    fake.durations["sound:/snd/long"] = None
    ours = fake.add_channel(state="Up")
    name = fake.channels[ours].name
    await client.play(ours, f"{ours}-pb1", ["sound:/snd/long"])

    await client.set_shared(name, "IVR_STATE", '{"n":"menu"}')
    await client.set_shared("PJSIP/trunk-gone", "IVR_STATE", "x")  # logged by Asterisk only
    listed = {c.id: dict(c.variables) for c in await client.channels()}
    assert listed == {ours: {"SHARED(IVR_STATE)": '{"n":"menu"}'}}
    assert fake.channels[ours].json()["channelvars"] == {
        "SHARED(IVR_STATE)": '{"n":"menu"}',
        "SHARED(IVR_HOLD_UNTIL)": "",
    }
    assert [r.channel for r in fake.find("POST", "/asterisk/variable")] == [
        ours,
        "PJSIP/trunk-gone",
    ]

    plain = asyncio.create_task(client.set_variable(ours, "IVR_FALLBACK", "1"))
    await asyncio.sleep(0.2)
    assert not plain.done()  # behind the playback
    await client.continue_in_dialplan(ours)  # answered at once ...
    assert fake.channels[ours].in_app("myna-ivr") and fake.continued == []
    await client.stop_playback(f"{ours}-pb1")
    await plain
    assert fake.channels[ours].variables["IVR_FALLBACK"] == "1"
    await fake.wait_for(lambda: fake.continued == [ours])  # ... and done once idle
    assert not fake.channels[ours].in_app("myna-ivr")
