"""Wiring for the controller: one object that holds the SMS parts and says what to run.

In ``ivr/app.py`` (the lead's), roughly::

    self.sms = SmsCapability(settings, lambda: facts_at(self.calendar.current,
                                                        datetime.now(TOKYO)).variables)
    ...
    await self.sms.start()                      # templates in service + the request pool
    Watcher(dsn, [self.flows, self.calendar, self.sms.templates])
    for coro, name in self.sms.tasks():         # outbox worker, spool replay
        self._supervised(coro, name)
    ...
    await self.sms.close()                      # after the tasks are cancelled

and the session answers ``SendSms(token, template, to)`` with
``ActionResult(token, await sms.requester.request(call_id, node, template, to))``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from ivr.config import Settings, SmsSettings
from ivr.published.service import InService
from ivr.sms.gateway import Gateway
from ivr.sms.generic import GenericGateway
from ivr.sms.inservice import templates_in_service
from ivr.sms.karaden import KaradenGateway
from ivr.sms.service import SmsRequester
from ivr.sms.templates import Rules, TemplateSet
from ivr.sms.worker import OutboxWorker


def make_gateway(s: SmsSettings) -> Gateway | None:
    """The configured gateway, or None when SMS is off."""
    if s.gateway == "karaden":
        return KaradenGateway(
            s.karaden_url,
            s.karaden_tenant_id,
            s.karaden_service_id,
            s.token,
            version=s.karaden_version,
            timeout=s.request_timeout,
        )
    if s.gateway == "generic":
        return GenericGateway(s)
    return None


class SmsCapability:
    def __init__(
        self, settings: Settings, variables: Callable[[], Mapping[str, str]] = dict
    ) -> None:
        s = settings.sms
        spool = Path(settings.database.spool_dir)
        self.dsn = settings.database.dsn
        self.rules = Rules.from_settings(s)
        self.templates: InService[TemplateSet] = templates_in_service(self.rules, spool)
        self.requester = SmsRequester(
            s, self.dsn, spool / "sms", lambda: self.templates.current, variables
        )
        self.gateway = make_gateway(s)
        self.worker = None if self.gateway is None else OutboxWorker(self.dsn, self.gateway, s)

    async def start(self) -> None:
        """The template set in service (database, cache or default) and the pool."""
        await self.templates.start(self.dsn)
        await self.requester.start()

    def tasks(self) -> list[tuple[Coroutine[Any, Any, None], str]]:
        """Long-lived tasks to supervise: the spool replay always (requests spooled by an
        earlier run must reach the outbox), the worker when a gateway is configured."""
        out: list[tuple[Coroutine[Any, Any, None], str]] = [
            (self.requester.run_replay(), "sms-spool-replay")
        ]
        if self.worker is not None:
            out.append((self.worker.run(), "sms-outbox"))
        return out

    async def close(self) -> None:
        await self.requester.close()
        if self.gateway is not None:
            await self.gateway.close()
