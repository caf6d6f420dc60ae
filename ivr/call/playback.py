"""One call's ARI playbacks: which ARI playback plays which engine token.

Ids cycle through a few per-channel names, so that a controller that adopts the
call after a crash can stop what its predecessor was playing: until a running
playback ends, Asterisk holds every queued command of the channel (even answer).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError, Gone

# The lines are the call's (as they were when the session held this code).
log = structlog.get_logger("ivr.call")

PLAYBACK_SLOTS = 4  # playbacks of one call that can overlap: the new one queued, the old stopping


class Playbacks:
    def __init__(self, client: AriClient, channel_id: str) -> None:
        self._client = client
        self._channel_id = channel_id
        self.running: dict[str, str] = {}  # ARI playback id -> engine token
        self._tokens: dict[str, str] = {}  # engine token -> ARI playback id
        self._started: dict[str, float] = {}  # ARI playback id -> start time
        # Playbacks a predecessor controller left running that we stopped: their
        # PlaybackFinished is not ours, even if our own playback reuses the id meanwhile.
        self._foreign: set[str] = set()
        self._dtmf_at: float | None = None
        self._count = 0

    def next_id(self) -> str:
        self._count += 1
        return f"{self._channel_id}-pb{self._count % PLAYBACK_SLOTS}"

    async def stop_orphans(self) -> None:
        """Stop whatever a predecessor controller left playing in this channel's slots."""
        for slot in range(PLAYBACK_SLOTS):
            playback_id = f"{self._channel_id}-pb{slot}"
            with contextlib.suppress(AriError):  # Gone: nothing was playing in that slot
                await self._client.stop_playback(playback_id)
                self._foreign.add(playback_id)

    async def ended_unseen(self) -> list[str]:
        """After the ARI connection came back: Asterisk does not replay the events it
        dropped meanwhile, so ask whether our playbacks are still running. Returns
        the ids of those that ended unseen."""
        ended = []
        for playback_id, token in list(self.running.items()):
            try:
                await self._client.playback(playback_id)
            except Gone:
                log.info("playback_end_missed", token=token)
                ended.append(playback_id)
            except AriError as e:
                log.warning("resync_failed", error=str(e))
        return ended

    def key_pressed(self) -> None:
        self._dtmf_at = time.monotonic()

    def started(self, pb: ari.Playback) -> None:
        self._started[pb.id] = time.monotonic()
        if self._dtmf_at is not None:
            ms = round((self._started[pb.id] - self._dtmf_at) * 1000, 1)
            log.debug("dtmf_to_prompt", ms=ms)
            self._dtmf_at = None

    def finished(self, pb: ari.Playback) -> str | None:
        """The engine token of a playback that ended, or None when it is not ours."""
        if pb.id in self._foreign:
            self._foreign.discard(pb.id)
            return None
        token = self.running.pop(pb.id, None)
        began = self._started.pop(pb.id, None)
        if began is not None:
            elapsed = round((time.monotonic() - began) * 1000)
            log.debug("playback_finished", token=token, ms=elapsed, state=pb.state)
        if token is None:
            return None
        self._tokens.pop(token, None)
        return token

    async def play(self, token: str, media: list[str], prompts: Sequence[str]) -> str | None:
        """Start a playback; its ARI id, or None when it could not play (the caller
        carries on as if it ended: a prompt that cannot play must not wedge the call).
        Raises Gone."""
        playback_id = self.next_id()
        self.running[playback_id] = token
        self._tokens[token] = playback_id
        try:
            await self._client.play(self._channel_id, playback_id, media)
        except Gone:
            raise
        except AriError as e:
            log.error("play_failed", prompts=prompts, error=str(e))
            self.running.pop(playback_id, None)
            self._tokens.pop(token, None)
            return None
        log.info("play", token=token, prompts=list(prompts))
        return playback_id

    async def stop(self, token: str) -> None:
        running = self._tokens.get(token)
        if running is None:
            return
        try:
            await self._client.stop_playback(running)
        except Gone:
            pass  # it had just finished by itself
        except AriError as e:
            # The prompt plays on to its end (the next one waits behind it):
            # a slower menu, not a reason to end the call.
            log.warning("stop_failed", token=token, error=str(e))

    async def stop_all(self) -> None:
        for running in list(self.running):
            with contextlib.suppress(AriError):  # Gone: it had ended; else it plays out
                await self._client.stop_playback(running)
