"""The Karaden SMS API (https://prg.karaden.jp), the subset the outbox uses.

What the provider's public documentation (prg-support.karaden.jp, "SMS送信",
"SMS API共通仕様", "SMS送達結果通知") and its official client libraries
(karaden-prg-php/-ruby) say, as found for this code:

- ``POST /api/{tenant_id}/messages``, form-encoded, headers ``Authorization: Bearer
  <token>`` and ``Karaden-Version``; fields ``service_id``, ``to`` (11 digits),
  ``body`` (up to 660 characters), ``tags`` (an array of strings: the Ruby library
  sends ``tags[]=…``), ``is_shorten`` (``true``/``false``: we always send ``false``,
  so the links citizens see are the official ones the rules checked, not a
  shortener's).
- The reply (and ``GET …/messages/{id}``) carries ``id`` (a UUID), ``status``
  (``waiting``, ``done``, ``error``, ``canceled``), ``sent_result`` (``none``,
  ``received``, ``unconnected``, ``error``, ``unknown``), ``carrier`` and
  ``charged_count_per_sent`` (課金対象通数: "the body split into billing units", i.e.
  the provider's own part count; its examples show 0 before it is counted, so only a
  positive value is kept).
- The delivery report (SMS送達結果通知) is a POST with ``application/json`` carrying the
  same message object (``id``, ``tags``, ``status``, ``sent_result``, ``carrier``,
  ``charged_count_per_sent``, …) to the endpoint set in the service settings.
- ``GET /api/{tenant_id}/messages`` lists messages; its ``tag`` query parameter
  filters by tag (the PHP library's MessageListParams), answered as
  ``{"object": "list", "data": [...], "has_more": …}``.

Not confirmed from the sources at hand: whether the list endpoint finds a message
the very moment it was accepted (the outbox waits a retry delay before looking), and
the full list of ``sent_result`` values after ``unknown`` (anything unrecognised is
treated as "no final result yet").
"""

from __future__ import annotations

from typing import Any

import aiohttp

from ivr.sms.gateway import (
    ACCEPTED,
    DELIVERED,
    UNDELIVERED,
    UNKNOWN_FINAL,
    Outgoing,
    ProviderMessage,
    TemporaryError,
    classify_status,
    error_text,
    part_count,
    send_failure,
)

_UNDELIVERED_RESULTS = frozenset({"unconnected", "error"})
_FAILED_STATUSES = frozenset({"error", "canceled"})


def message_state(data: dict[str, Any]) -> ProviderMessage:
    """A Karaden message object as the outbox sees it."""
    status = str(data.get("status") or "")
    result = str(data.get("sent_result") or "")
    if result == "received":
        state = DELIVERED
    elif result in _UNDELIVERED_RESULTS or status in _FAILED_STATUSES:
        state = UNDELIVERED
    elif result == "unknown":
        state = UNKNOWN_FINAL
    else:
        state = ACCEPTED
    return ProviderMessage(
        str(data.get("id") or ""),
        state,
        f"{status}/{result}" if result else status,
        str(data.get("carrier") or ""),
        part_count(data.get("charged_count_per_sent")),
    )


class KaradenGateway:
    name = "karaden"

    def __init__(
        self,
        base_url: str,
        tenant_id: str,
        service_id: int,
        token: str,
        *,
        version: str = "2024-03-01",
        timeout: float = 10.0,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/api/{tenant_id}/messages"
        self._service_id = service_id
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Karaden-Version": version,
            "Accept": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def send(self, message: Outgoing) -> ProviderMessage:
        form = [
            ("service_id", str(self._service_id)),
            ("to", message.to),
            ("body", message.body),
            ("tags[]", message.tag),
            ("is_shorten", "false"),
        ]
        try:
            async with self._session().post(self._url, data=form) as r:
                if r.status >= 300:
                    raise classify_status(r.status, await error_text(r))
                data = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise send_failure(e) from e
        if not isinstance(data, dict) or not data.get("id"):
            # Taken (2xx) but unreadable: it may exist; find it by tag before any resend.
            raise send_failure(ValueError("reply without a message id"))
        return message_state(data)

    async def _get(self, url: str, params: dict[str, str] | None = None) -> Any:
        try:
            async with self._session().get(url, params=params) as r:
                if r.status == 404:
                    return None
                if r.status >= 300:
                    raise TemporaryError(f"HTTP {r.status}: {await error_text(r)}"[:300])
                return await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise TemporaryError(f"{type(e).__name__}: {e}"[:300]) from e

    async def lookup(self, tag: str) -> ProviderMessage | None:
        data = await self._get(
            self._url, {"tag": tag, "service_id": str(self._service_id), "per_page": "10"}
        )
        if data is None:
            return None
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TemporaryError("message list reply without data")
        for item in items:
            if isinstance(item, dict) and tag in (item.get("tags") or [tag]) and item.get("id"):
                return message_state(item)
        return None

    async def status(self, provider_id: str) -> ProviderMessage | None:
        data = await self._get(f"{self._url}/{provider_id}")
        if not isinstance(data, dict):
            raise TemporaryError("message not found at the provider")
        return message_state(data)

    def report(self, payload: Any) -> tuple[ProviderMessage, str] | None:
        if not isinstance(payload, dict) or not payload.get("id"):
            return None
        tags = payload.get("tags")
        tag = str(tags[0]) if isinstance(tags, list) and tags else ""
        return message_state(payload), tag
