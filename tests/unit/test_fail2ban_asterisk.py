"""The Asterisk fail2ban filter against the lines a real Asterisk 22 (rendered from
asterisk-conf/) writes when a SIP request comes from an address that is not the trunk."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from ivr.dev.asterisk import Instance, load_install
from ivr.dev.postgres import free_port
from ivr.prompts.library import PromptLibrary

ROOT = Path(__file__).resolve().parents[2]
FILTER = ROOT / "ops" / "fail2ban" / "filter.d" / "asterisk-ivr.conf"
SCENARIO = ROOT / "tests" / "e2e" / "scenarios" / "unknown_source.xml"

JAIL_LOGS = ("security.log", "messages.log")

pytestmark = pytest.mark.e2e


async def test_filter_names_the_intruder_from_real_asterisk_logs(tmp_path: Path) -> None:
    """An INVITE from 127.0.0.2 is refused by Asterisk; fail2ban-regex finds 127.0.0.2 in
    the security and messages logs Asterisk wrote, and never the trunk (127.0.0.1)."""
    inst = Instance(f"f2b-{uuid.uuid4().hex[:8]}", load_install())
    inst.render()
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    inst.start()
    try:
        await inst.wait_ready()
        sipp = shutil.which("sipp")
        assert sipp is not None
        for _ in range(2):
            proc = await asyncio.create_subprocess_exec(
                sipp, f"127.0.0.1:{inst.sip_port}", "-sf", str(SCENARIO), "-m", "1",
                "-i", "127.0.0.2", "-p", str(free_port()), "-mp", str(free_port()),
                "-s", "0501234567", "-timeout", "20s", "-timeout_error", "-nostdin",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await proc.communicate()
            assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        inst.stop()
        logs = tmp_path / "log"
        shutil.copytree(inst.host_dir / "log", logs)
        inst.remove()
    combined = tmp_path / "asterisk.log"
    # The files the asterisk-ivr jail reads (ops/fail2ban/jail.d/ivr.conf).
    combined.write_text("".join((logs / name).read_text(errors="replace") for name in JAIL_LOGS))
    done = subprocess.run(
        ["fail2ban-regex", "-v", str(combined), str(FILTER)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    matched = done.stdout.split("Failregex:", 1)[1].split("Ignoreregex:", 1)[0]
    assert "127.0.0.2" in matched, done.stdout[-3000:] + combined.read_text()[-3000:]
    assert "127.0.0.1 " not in matched
    # Both logs speak of each refusal: security.log's InvalidAccountID, messages.log's
    # "No matching endpoint found".
    hits = [line.split()[1] for line in matched.splitlines() if line.startswith("|      ")]
    assert hits and set(hits) == {"127.0.0.2"}
    assert "InvalidAccountID" in (logs / "security.log").read_text()
