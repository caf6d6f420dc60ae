"""The controller's flow in service: the file flow when the database has no versions."""

from __future__ import annotations

import uuid
from pathlib import Path

from ivr.call.inservice import FlowInService
from ivr.dev import postgres
from ivr.flow.loader import load_default_flow
from ivr.prompts.library import PromptLibrary


async def test_unmigrated_database_keeps_the_file_flow(pg_admin_dsn: str, tmp_path: Path) -> None:
    """A database without the schema yet does not stop the controller from serving."""
    name = f"ivr_empty_{uuid.uuid4().hex[:8]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    try:
        service = FlowInService(PromptLibrary(tmp_path, "/x"), load_default_flow(), dsn)
        await service.load_published(timeout=3)
        assert service.current.version is None
        assert service.current.flow.start == "service_check"
    finally:
        await postgres.drop_database(pg_admin_dsn, name)
