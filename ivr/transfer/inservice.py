"""The transfer targets in service: the published-settings mechanism
(:mod:`ivr.published`) applied to the target set. A stored set that breaks the rules
(say an endpoint was removed from ``transfer.endpoints`` since) is never put in
service: the controller keeps what it serves, or the configuration's set."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from ivr.config import TransferSettings
from ivr.published.service import InService, InvalidSetting, Source
from ivr.transfer import store
from ivr.transfer.model import TargetsError, TargetSet, check


class TransferTargetsKind:
    name = "transfer_targets"
    channel = store.CHANNEL

    def __init__(self, settings: TransferSettings) -> None:
        self.settings = settings

    def default(self) -> Source:
        return Source(None, store.configured(self.settings).to_json())

    async def fetch(self, conn: asyncpg.Connection) -> Source | None:
        found = await store.in_service(conn)
        return None if found is None else Source(*found)

    async def build(self, source: Source) -> TargetSet:
        try:
            targets = TargetSet.from_json(source.text)
        except TargetsError as e:
            raise InvalidSetting(f"transfer targets version {source.version}: {e}") from e
        issues = check(targets, self.settings.endpoints)
        if issues:
            first = issues[0]
            raise InvalidSetting(
                f"transfer targets version {source.version}: {first.target}: {first.detail}"
            )
        return targets


def targets_in_service(settings: TransferSettings, spool_dir: Path) -> InService[TargetSet]:
    """The target set for calls, cached beside the other kinds in the spool folder: while
    the database is away, transfers go on from the cached set."""
    return InService(TransferTargetsKind(settings), spool_dir / "transfer_targets-in-service.json")
