"""The configurable HTTP gateway against a provider with its own JSON shape (a real
server on loopback): field mapping, auth header, id and status from the reply,
lookup by tag, delivery status, permanent refusals."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from ivr.config import SmsSettings
from ivr.dev.postgres import free_port
from ivr.sms.gateway import DELIVERED, Outgoing, PermanentError, UnknownResult
from ivr.sms.generic import GenericGateway, dig


class Provider:
    """Accepts {"msisdn", "text", "client_ref"} with X-Api-Key; answers {"result": {...}}."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.fail_next: int | None = None
        app = web.Application()
        app.router.add_post("/v2/sms", self.create)
        app.router.add_get("/v2/sms/by-ref/{ref}", self.by_ref)
        app.router.add_get("/v2/sms/{id}", self.detail)
        self.app = app

    async def create(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != "key tok":
            raise web.HTTPUnauthorized()
        if request.content_type == "application/json":
            data = await request.json()
        else:
            data = {k: str(v) for k, v in (await request.post()).items()}
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            return web.json_response({"error": "no such subscriber"}, status=status)
        self.seen.append(data)
        return web.json_response({"result": {"msg_id": f"m{len(self.seen)}", "state": "ACCEPTED"}})

    async def by_ref(self, request: web.Request) -> web.Response:
        for i, m in enumerate(self.seen, 1):
            if m["client_ref"] == request.match_info["ref"]:
                return web.json_response({"result": {"msg_id": f"m{i}", "state": "ACCEPTED"}})
        raise web.HTTPNotFound()

    async def detail(self, request: web.Request) -> web.Response:
        found = {"msg_id": request.match_info["id"], "state": "DELIVRD"}
        return web.json_response({"result": found})


@pytest.fixture
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    p = Provider()
    runner = web.AppRunner(p.app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield p, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _settings(url: str, **changes: Any) -> SmsSettings:
    base = SmsSettings(
        gateway="generic",
        token="tok",
        generic_url=f"{url}/v2/sms",
        generic_lookup_url=f"{url}/v2/sms/by-ref/{{tag}}",
        generic_status_url=f"{url}/v2/sms/{{id}}",
        generic_auth_header="X-Api-Key",
        generic_auth_prefix="key ",
        generic_to_field="msisdn",
        generic_body_field="text",
        generic_tag_field="client_ref",
        generic_id_path="result.msg_id",
        generic_status_path="result.state",
        generic_delivered=("DELIVRD",),
        generic_failed=("UNDELIV", "REJECTD"),
    )
    return dataclasses.replace(base, **changes)


async def test_json_mapping_send_lookup_and_status(provider: tuple[Provider, str]) -> None:
    """Fields go out under the configured names; the id and status come from the mapped places."""
    p, url = provider
    g = GenericGateway(_settings(url))
    try:
        sent = await g.send(Outgoing("tag-1", "09012345678", "本文です"))
        assert (sent.provider_id, sent.state, sent.detail) == ("m1", "accepted", "ACCEPTED")
        assert p.seen == [{"msisdn": "09012345678", "text": "本文です", "client_ref": "tag-1"}]
        found = await g.lookup("tag-1")
        assert found is not None and found.provider_id == "m1"
        assert await g.lookup("tag-2") is None
        status = await g.status("m1")
        assert status is not None and status.state == DELIVERED
        report = g.report({"result": {"msg_id": "m1", "state": "UNDELIV"}, "client_ref": "tag-1"})
        assert report is not None and report[0].state == "failed" and report[1] == "tag-1"
    finally:
        await g.close()


async def test_refusals_and_outages_are_classified(provider: tuple[Provider, str]) -> None:
    """A 4xx for the message is permanent; a 5xx is unknown (looked up before any resend)."""
    p, url = provider
    g = GenericGateway(_settings(url))
    try:
        p.fail_next = 400
        with pytest.raises(PermanentError, match="no such subscriber"):
            await g.send(Outgoing("t", "09012345678", "x"))
        p.fail_next = 503
        with pytest.raises(UnknownResult):
            await g.send(Outgoing("t", "09012345678", "x"))
    finally:
        await g.close()


async def test_form_body_and_no_lookup_url(provider: tuple[Provider, str]) -> None:
    """A form body carries the same fields; without lookup or status URLs the gateway
    says it cannot tell (None)."""
    p, url = provider
    g = GenericGateway(
        _settings(url, generic_format="form", generic_lookup_url="", generic_status_url="")
    )
    try:
        sent = await g.send(Outgoing("tag-f", "08012345678", "フォーム"))
        assert sent.provider_id == "m1"
        assert p.seen == [{"msisdn": "08012345678", "text": "フォーム", "client_ref": "tag-f"}]
        assert await g.lookup("tag-f") is None and await g.status("m1") is None
    finally:
        await g.close()


def test_dig_follows_dotted_paths() -> None:
    """Nested keys and list positions; absent paths are None."""
    assert dig({"a": [{"b": 3}]}, "a.0.b") == 3 and dig({"a": 1}, "a.b") is None
