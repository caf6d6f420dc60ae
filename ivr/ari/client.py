"""Typed REST calls to ARI over one aiohttp session.

A 404 for a channel or playback means it is already gone (the caller hung up,
the prompt ended): that is an expected outcome, raised as ``Gone`` here and
handled in one place by the call session.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp

from ivr.ari.events import Channel


class AriError(Exception):
    """ARI answered with an error status or could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ARI {status}: {message}")
        self.status = status


class Gone(AriError):
    """The channel or playback no longer exists (HTTP 404)."""


class AriClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        user: str,
        password: str,
        timeout: float = 5.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/ari"
        # aiohttp's auth= argument is deprecated for requests; send the header ourselves.
        self.headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def base_url(self) -> str:
        return self._base

    async def _request(
        self,
        method: str,
        path: str,
        params: Iterable[tuple[str, str]] = (),
        body: Any = None,
    ) -> Any:
        try:
            async with self._session.request(
                method,
                self._base + path,
                params=list(params),
                json=body,
                headers=self.headers,
                timeout=self._timeout,
            ) as r:
                if r.status == 404 or (r.status in (409, 412) and path.startswith("/channels/")):
                    # 409 "not in Stasis" / 412 "invalid state": the channel has left us too.
                    raise Gone(r.status, f"{method} {path}: {await r.text()}")
                if r.status == 422 and path.startswith("/applications/"):
                    # 422 "event source does not exist": the channel subscribed to is gone.
                    raise Gone(r.status, f"{method} {path}: {await r.text()}")
                if r.status >= 400:
                    raise AriError(r.status, f"{method} {path}: {await r.text()}")
                if r.status == 204 or r.content_type != "application/json":
                    return None
                return await r.json()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise AriError(0, f"{method} {path}: {e!r}") from e

    async def asterisk_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self._request("GET", "/asterisk/info")
        return info

    async def channels(self) -> list[Channel]:
        raw = await self._request("GET", "/channels")
        return [Channel.decode(c) for c in raw or []]

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{channel_id}/answer")

    async def play(self, channel_id: str, playback_id: str, media: Iterable[str]) -> None:
        # ARI takes a playlist as one comma-separated value (repeating the key keeps the last).
        params = [("media", ",".join(media))]
        await self._request("POST", f"/channels/{channel_id}/play/{playback_id}", params)

    async def playback(self, playback_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._request("GET", f"/playbacks/{playback_id}")
        return found

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", f"/playbacks/{playback_id}")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._request("DELETE", f"/channels/{channel_id}", [("reason", reason)])

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self._request(
            "POST", f"/channels/{channel_id}/variable", [("variable", name), ("value", value)]
        )

    async def set_shared(self, channel_name: str, name: str, value: str) -> None:
        """Set ``SHARED(name)`` on a channel at once. A channel variable set with
        ``set_variable`` waits in the channel's command queue until the prompt
        playing ends; this goes through the dialplan function instead."""
        await self._request(
            "POST",
            "/asterisk/variable",
            [("variable", f"SHARED({name},{channel_name})"), ("value", value)],
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None:
        """Leave Stasis: at the next priority, or at ``context``/``extension``/``priority``."""
        params = [
            (name, str(value))
            for name, value in (
                ("context", context),
                ("extension", extension),
                ("priority", priority),
            )
            if value is not None
        ]
        await self._request("POST", f"/channels/{channel_id}/continue", params)

    async def subscribe(self, app: str, source: str) -> None:
        """Receive the events of ``source`` (``channel:<id>``) even outside Stasis."""
        await self._request("POST", f"/applications/{app}/subscription", [("eventSource", source)])

    async def unsubscribe(self, app: str, source: str) -> None:
        await self._request(
            "DELETE", f"/applications/{app}/subscription", [("eventSource", source)]
        )

    async def filter_events(self, app: str, allowed: Iterable[str]) -> None:
        """Have Asterisk send ``app`` only these event types (``PUT
        /applications/{app}/eventFilter``, Asterisk 13.26/16.3 and later). The filter
        lives with the application in Asterisk: set it again after every connect."""
        body = {"allowed": [{"type": t} for t in sorted(allowed)], "disallowed": []}
        await self._request("PUT", f"/applications/{app}/eventFilter", body=body)

    async def endpoint_channels(self, technology: str, resource: str) -> list[str]:
        """Ids of the channels on an endpoint (a trunk's calls, both ways)."""
        raw = await self._request("GET", f"/endpoints/{technology}/{resource}")
        return [str(c) for c in (raw or {}).get("channel_ids") or ()]
