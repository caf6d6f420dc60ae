"""Wiring for the controller: one object that holds the transfer parts and says what
to run (``ivr/app.py`` calls it)::

    self.transfers = TransferCapability(settings, self.recorder)
    await self.transfers.start()                 # the targets in service
    Watcher(dsn, [..., self.transfers.targets])  # staff's publishes reach calls
    service = self.transfers.bind(client, app)   # once the ARI client exists
    for coro, name in self.transfers.tasks(): supervised(coro, name)
    ...
    await self.transfers.close()
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from ivr.ari.client import AriClient
from ivr.config import Settings
from ivr.published.service import InService
from ivr.store.calls import CallRecorder
from ivr.transfer.inservice import targets_in_service
from ivr.transfer.model import TargetSet
from ivr.transfer.records import AttemptWriter
from ivr.transfer.service import TransferService
from ivr.transfer.slots import Slots


class TransferCapability:
    def __init__(self, settings: Settings, recorder: CallRecorder) -> None:
        s = settings.transfer
        spool = Path(settings.database.spool_dir)
        self.settings = s
        self.dsn = settings.database.dsn
        self.recorder = recorder
        self.targets: InService[TargetSet] = targets_in_service(s, spool)
        self.slots = Slots(self.dsn, s.slot_seconds, s.db_timeout)
        self.attempts = AttemptWriter(self.dsn, spool)
        self.service: TransferService | None = None

    async def start(self) -> None:
        """The target set in service (database, cache or the configuration's)."""
        await self.targets.start(self.dsn)

    def bind(self, client: AriClient, app: str) -> TransferService:
        self.service = TransferService(
            client,
            app,
            lambda: self.targets.current,
            self.slots,
            self.attempts,
            self.recorder,
            self.settings,
        )
        return self.service

    def tasks(self) -> list[tuple[Coroutine[Any, Any, None], str]]:
        """Long-lived tasks to supervise: slot renewal and the attempts' writer."""
        return [(self.slots.run(), "transfer-slots"), (self.attempts.run(), "transfer-attempts")]

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()
        await self.attempts.close()
        await self.slots.close()
