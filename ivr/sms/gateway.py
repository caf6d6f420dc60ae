"""One interface for every SMS gateway, and what its answers mean to the outbox.

A send ends in one of four ways:

- accepted: the provider took the message (:class:`ProviderMessage`);
- :class:`TemporaryError`: it certainly did not take it (connection refused, 429, a
  bad token): try again later;
- :class:`PermanentError`: it refused this message (an invalid number, another 4xx):
  never again, the reason is recorded;
- :class:`UnknownResult`: it may have taken it (a time-out, a connection reset after
  the request went out, a 5xx): the outbox **looks the message up by its tag before
  any resend**, so a lost reply never means a second message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

ACCEPTED = "accepted"  # the provider has it; no delivery result yet
DELIVERED = "delivered"
UNDELIVERED = "failed"  # final: it will never arrive
UNKNOWN_FINAL = "unknown"  # final, but the provider cannot say whether it arrived


@dataclass(frozen=True)
class Outgoing:
    """One message: ``tag`` is the outbox id, sent along so the message can be found."""

    tag: str
    to: str  # 11 digits
    body: str


@dataclass(frozen=True)
class ProviderMessage:
    """What the provider says of one message."""

    provider_id: str
    state: str  # ACCEPTED, DELIVERED, UNDELIVERED or UNKNOWN_FINAL
    detail: str = ""  # the provider's own status words, e.g. "done/received"
    carrier: str = ""
    parts: int | None = None  # the provider's own count of parts (what it bills), when given


def part_count(value: Any) -> int | None:
    """A provider's part count as a positive integer; None when absent, zero (not
    counted yet) or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= 100:
        return value
    return None


class GatewayError(Exception):
    """Base: ``reason`` is short and safe to store and show (no number, no body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryError(GatewayError):
    """Certainly not accepted; try again later."""


class PermanentError(GatewayError):
    """Refused for good (e.g. an invalid number)."""


class UnknownResult(GatewayError):
    """Perhaps accepted: look it up by tag before sending again."""


class Gateway(Protocol):
    name: str

    async def send(self, message: Outgoing) -> ProviderMessage:
        """Hand one message to the provider; raises a :class:`GatewayError`."""
        ...

    async def lookup(self, tag: str) -> ProviderMessage | None:
        """The message sent with ``tag``, or None when the provider has none. Raises
        :class:`GatewayError` when it cannot tell (then nothing is resent)."""
        ...

    async def status(self, provider_id: str) -> ProviderMessage | None:
        """The delivery state now; None when this gateway cannot be asked."""
        ...

    def report(self, payload: Any) -> tuple[ProviderMessage, str] | None:
        """A delivery report (webhook body) as (message, tag or ""); None if unreadable."""
        ...

    async def close(self) -> None: ...


def classify_status(status: int, reason: str) -> GatewayError:
    """The error an HTTP status means for a **send** (lookups and polls are reads:
    their errors are always temporary).

    - 5xx: the provider may have stored the message before failing: unknown.
    - 401/403: our credentials, not the message: temporary (fixing the token lets the
      queue go out; it is logged as an error meanwhile).
    - 408, 425, 429: not taken now: temporary.
    - any other 4xx: this message is refused: permanent.
    """
    text = f"HTTP {status}: {reason}"[:300]
    if status >= 500:
        return UnknownResult(text)
    if status in (401, 403, 408, 425, 429):
        return TemporaryError(text)
    return PermanentError(text)


async def error_text(response: aiohttp.ClientResponse) -> str:
    """A short description of an error reply (its message, never the whole body)."""
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError, TimeoutError):
        return response.reason or ""
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])[:200]
    return response.reason or ""


def send_failure(e: BaseException) -> GatewayError:
    """A network error during a send: refused before anything went out → temporary;
    anything after the request may have reached the provider → unknown."""
    if isinstance(e, aiohttp.ClientConnectorError):
        return TemporaryError(f"cannot connect: {e.os_error or e}"[:300])
    if isinstance(e, TimeoutError):
        return UnknownResult("no reply in time")
    return UnknownResult(f"{type(e).__name__}: {e}"[:300])
