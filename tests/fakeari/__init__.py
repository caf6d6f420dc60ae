"""A fake Asterisk ARI server on loopback, for fast tests of the ARI shell.

    async with FakeAri() as fake:                  # 127.0.0.1, a free port; fake.url
        c1 = fake.start_call(caller="0312345678")  # channel in Stasis + StasisStart
        fake.press(c1, "1")                        # ChannelDtmfReceived per key
        fake.caller_hangup(c1)                     # hang-up request, StasisEnd, destroyed
        c2 = fake.add_channel(state="Up", variables={"SHARED(IVR_STATE)": saved})  # no event
        fake.play_orphan(c2, f"{c2}-pb2", media)   # left playing by a controller that died
        fake.continued                             # channels a continue took out of Stasis
        fake.reenter(c1)                           # the dialplan's hold loop: StasisStart again
        fake.push({"type": "ChannelVarset", ...})  # any event (envelope added)
        fake.fail("POST", "/channels/*/play/*", 500, times=1)   # or 404/409/412, times=None
        fake.hang("GET", "/channels")              # never answered: the client times out
        fake.refuse_ws(401, times=3); fake.users["ivr"] = "..."  # WebSocket refusals
        fake.drop(lambda e: e["type"] == "PlaybackFinished")     # lost in Asterisk
        await fake.drop_ws(); await fake.cut(); fake.restore()   # socket trouble
        fake.durations["sound:/snd/uploads/menu"] = None         # plays until stopped
        fake.city = CityPhone("BUSY")              # [ivr-transfer]'s Dial(): dialplan.py
        fake.dials / fake.end_transfer(c1) / fake.add_transferred(saved, attempt)
        fake.subscriptions                         # POST /applications/{app}/subscription
        fake.requests / fake.find(method, pattern, channel, since) / fake.requests_for(c1)
        fake.events / fake.lost / fake.dropped / fake.ws_attempts / fake.played
        await fake.wait_for(lambda: ...) / await fake.wait_request("DELETE", "/channels/*")

Channel variables: ``POST /asterisk/variable?variable=SHARED(NAME,<channel name>)``
writes ``variables["SHARED(NAME)"]`` at once; ``POST /channels/{id}/variable`` writes
``variables["NAME"]`` once no playback runs. Channel JSON lists ``channelvars``
(``SHARED(IVR_STATE)``, ``SHARED(IVR_HOLD_UNTIL)`` as in ari.conf; "" while unset).

Events of a channel outside Stasis reach the WebSocket only if the application
subscribed to it (else they go to ``fake.unseen``), as in Asterisk.
``GET /endpoints/{tech}/{resource}`` lists the channels whose names start with it.

``tests.fakeari.shell.running_shell`` runs the real AriClient, AriConnection,
Dispatcher and CallSession against it.
"""

from tests.fakeari.dialplan import CityPhone
from tests.fakeari.server import FakeAri, Request, Rule, WsAttempt

__all__ = ["CityPhone", "FakeAri", "Request", "Rule", "WsAttempt"]
