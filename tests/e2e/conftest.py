"""End-to-end fixtures: a private Asterisk from asterisk-conf/, the controller
process, a fresh database, and a TCP proxy on the ARI connection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ivr.app import DEFAULT_FLOW
from ivr.dev.asterisk import Instance, load_install
from ivr.dev.stack import Stack
from ivr.flow.loader import load_flow_file
from ivr.flow.model import Flow
from ivr.prompts.library import PromptLibrary
from tests.e2e.tcpproxy import TcpProxy


@pytest.fixture(scope="session")
def flow() -> Flow:
    """The shipped default flow, which the controller serves in these tests."""
    return load_flow_file(DEFAULT_FLOW)


@asynccontextmanager
async def private_asterisk(prefix: str) -> AsyncIterator[Instance]:
    """A private Asterisk rendered from asterisk-conf/ on free ports, removed afterwards."""
    inst = Instance(f"{prefix}-{uuid.uuid4().hex[:8]}", load_install())
    inst.render()
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    inst.start()
    try:
        await inst.wait_ready()
        yield inst
    finally:
        inst.stop()
        inst.remove()


@pytest.fixture(scope="session")
async def asterisk() -> AsyncIterator[Instance]:
    """The private Asterisk most end-to-end tests share."""
    async with private_asterisk("e2e") as inst:
        yield inst


@pytest.fixture(scope="session")
async def ari_proxy(asterisk: Instance) -> AsyncIterator[TcpProxy]:
    """A cuttable TCP proxy between the controller and Asterisk's ARI port."""
    proxy = TcpProxy(asterisk.ari_port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture(scope="session")
async def stack(
    database_dsn: str,
    asterisk: Instance,
    ari_proxy: TcpProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """The controller process connected (through the proxy) to the private Asterisk."""
    work: Path = tmp_path_factory.mktemp("stack")
    s = Stack(
        database_dsn,
        asterisk,
        work,
        extra_config={
            "ari": {"url": f"http://127.0.0.1:{ari_proxy.port}"},
            # The shipped flow transfers to kokuho: publishing it needs the target known.
            "transfer": {"targets": [{"name": "kokuho", "number": "0312345678"}]},
        },
    )
    s.start_controller()
    try:
        await s.wait_log("ari_connected", timeout=180)
        yield s
    finally:
        s.stop_controller()


@pytest.fixture(scope="session")
def library(asterisk: Instance) -> PromptLibrary:
    """The prompt cache as the controller writes it, to find prompt files and lengths."""
    return PromptLibrary(asterisk.sounds_host_dir, asterisk.sounds_ast_dir)
