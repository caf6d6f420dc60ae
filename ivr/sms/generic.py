"""A configurable HTTP gateway for providers other than Karaden.

Sends one POST (JSON or form) with the number, the text and our tag under the
configured field names, with the token in a configured header; reads the
provider's message id, status and (if ``generic_parts_path`` is set) its own count
of parts from configured (dotted) places in the reply.
Optionally: a URL to look a message up by our tag (``{tag}``), and one to ask for a
message's delivery status by its id (``{id}``). Without a lookup URL a send whose
result is unknown is sent again with the same tag — point ``generic_tag_field`` at
the provider's idempotency key, so the provider can drop the duplicate.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from ivr.config import SmsSettings
from ivr.sms.gateway import (
    ACCEPTED,
    DELIVERED,
    UNDELIVERED,
    Outgoing,
    ProviderMessage,
    TemporaryError,
    classify_status,
    error_text,
    part_count,
    send_failure,
)


def dig(data: Any, path: str) -> Any:
    """``data["a"]["b"]`` for ``a.b``; list items by number (``data.0.id``); None if absent."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class GenericGateway:
    name = "generic"

    def __init__(self, s: SmsSettings) -> None:
        self._s = s
        headers = {"Accept": "application/json"}
        if s.generic_auth_header and s.token:
            headers[s.generic_auth_header] = f"{s.generic_auth_prefix}{s.token}"
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(total=s.request_timeout)
        self._delivered = frozenset(v.lower() for v in s.generic_delivered)
        self._failed = frozenset(v.lower() for v in s.generic_failed)
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _state(self, data: Any) -> ProviderMessage:
        status = dig(data, self._s.generic_status_path) if self._s.generic_status_path else None
        word = "" if status is None else str(status)
        if word.lower() in self._delivered:
            state = DELIVERED
        elif word.lower() in self._failed:
            state = UNDELIVERED
        else:
            state = ACCEPTED
        provider_id = dig(data, self._s.generic_id_path)
        counted = dig(data, self._s.generic_parts_path) if self._s.generic_parts_path else None
        return ProviderMessage(
            "" if provider_id is None else str(provider_id), state, word, parts=part_count(counted)
        )

    async def send(self, message: Outgoing) -> ProviderMessage:
        s = self._s
        fields = {s.generic_to_field: message.to, s.generic_body_field: message.body}
        if s.generic_tag_field:
            fields[s.generic_tag_field] = message.tag
        body = "json" if s.generic_format == "json" else "data"
        kwargs: dict[str, Any] = {body: fields}
        try:
            async with self._session().post(s.generic_url, **kwargs) as r:
                if r.status >= 300:
                    raise classify_status(r.status, await error_text(r))
                data = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise send_failure(e) from e
        found = self._state(data)
        if not found.provider_id:
            raise send_failure(ValueError(f"reply without {s.generic_id_path}"))
        return found

    async def _get(self, url: str) -> Any:
        try:
            async with self._session().get(url) as r:
                if r.status == 404:
                    return None
                if r.status >= 300:
                    raise TemporaryError(f"HTTP {r.status}: {await error_text(r)}"[:300])
                return await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise TemporaryError(f"{type(e).__name__}: {e}"[:300]) from e

    async def lookup(self, tag: str) -> ProviderMessage | None:
        if not self._s.generic_lookup_url:
            return None  # cannot tell: the same tag goes out again (the idempotency key)
        data = await self._get(self._s.generic_lookup_url.replace("{tag}", quote(tag, safe="")))
        if isinstance(data, list):
            data = data[0] if data else None
        if not data:
            return None
        found = self._state(data)
        return found if found.provider_id else None

    async def status(self, provider_id: str) -> ProviderMessage | None:
        if not self._s.generic_status_url:
            return None
        url = self._s.generic_status_url.replace("{id}", quote(provider_id, safe=""))
        data = await self._get(url)
        if data is None:
            raise TemporaryError("message not found at the provider")
        found = self._state(data)
        return ProviderMessage(provider_id, found.state, found.detail, parts=found.parts)

    def report(self, payload: Any) -> tuple[ProviderMessage, str] | None:
        found = self._state(payload)
        if not found.provider_id:
            return None
        tag = dig(payload, self._s.generic_tag_field) if self._s.generic_tag_field else None
        return found, "" if tag is None else str(tag)
