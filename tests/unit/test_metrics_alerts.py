"""The monitoring configuration: alert rules and Prometheus config pass promtool, the
rules fire on the series they are meant for, and an alert reaches an inbox through
Alertmanager rendered with the deployment's SMTP settings."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ivr.dev.postgres import free_port
from ivr.metrics import opsconf
from tests.smtpinbox import Inbox

OPS = Path(__file__).resolve().parents[2] / "ops"
ENV = {
    "IVR_ALERT_SMTP_HOST": "127.0.0.1:25",
    "IVR_ALERT_EMAIL_FROM": "ivr-alerts@city.example.lg.jp",
    "IVR_ALERT_EMAIL_TO": "joho-system@city.example.lg.jp",
    "IVR_ALERT_SMTP_TLS": "false",
}


def run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(autouse=True)
def _tools() -> None:
    """promtool and amtool come with scripts/install-system.sh (make test installs them)."""
    for tool in ("promtool", "amtool", "prometheus-alertmanager"):
        assert shutil.which(tool), f"{tool} missing: run bash scripts/install-system.sh"


def test_rules_pass_promtool_and_fire_when_they_should() -> None:
    """`promtool check rules` accepts every rule and `promtool test rules` sees the dead
    letter, ARI and SMS alerts fire (and the clock one stay quiet) on sample series."""
    out = run("promtool", "check", "rules", str(OPS / "prometheus" / "alerts.yml"))
    assert "SUCCESS" in out
    names = {
        line.split(":", 1)[1].strip()
        for line in (OPS / "prometheus" / "alerts.yml").read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    wanted = {
        "IvrAriDown", "IvrDatabaseUnreachable", "IvrDeadLetters", "IvrSpoolGrowing",
        "IvrSmsOutboxStuck", "IvrClockUnsynchronised", "IvrNoCallsDuringOfficeHours",
    }  # fmt: skip
    assert wanted <= names
    assert "SUCCESS" in run("promtool", "test", "rules", "alerts_test.yml", cwd=OPS / "prometheus")


def test_rendered_configuration_passes_promtool_and_amtool(tmp_path: Path) -> None:
    """opsconf fills the SMTP values in; Prometheus and Alertmanager accept the result;
    a missing recipient is refused by name."""
    assert opsconf.main(["--out", str(tmp_path)], ENV) == 0
    rendered = (tmp_path / "alertmanager.yml").read_text()
    assert "@@" not in rendered and "joho-system@city.example.lg.jp" in rendered
    assert (tmp_path / "alertmanager.yml").stat().st_mode & 0o077 == 0
    assert "SUCCESS" in run("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert "SUCCESS" in run("amtool", "check-config", str(tmp_path / "alertmanager.yml"))
    with pytest.raises(opsconf.OpsConfigError, match="IVR_ALERT_EMAIL_TO"):
        opsconf.write(tmp_path / "x", {k: v for k, v in ENV.items() if k != "IVR_ALERT_EMAIL_TO"})


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()
    server = await asyncio.start_server(box.session, "127.0.0.1", 0)
    box.port = server.sockets[0].getsockname()[1]
    yield box
    server.close()
    await server.wait_closed()


async def test_an_alert_reaches_the_inbox(tmp_path: Path, inbox: Inbox) -> None:
    """Alertmanager with the rendered configuration mails a firing alert to the
    operators' address through the (here: local) SMTP server."""
    opsconf.write(tmp_path, {**ENV, "IVR_ALERT_SMTP_HOST": f"127.0.0.1:{inbox.port}"})
    config = tmp_path / "alertmanager.yml"
    # Only the wait before the first mail is shortened, so the test does not idle 30 s.
    config.write_text(config.read_text().replace("group_wait: 30s", "group_wait: 1s"))
    port = free_port()
    manager = await asyncio.create_subprocess_exec(
        "prometheus-alertmanager", f"--config.file={config}",
        f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    alert = [
        {
            "labels": {
                "alertname": "IvrDeadLetters",
                "severity": "warning",
                "job": "ivr-controller",
            },
            "annotations": {"summary": "3 call records were refused by the database"},
        }
    ]
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.post(
                        f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps(alert),
                        headers={"Content-Type": "application/json"},
                    ) as r:  # fmt: skip
                        assert r.status == 200, await r.text()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
        await asyncio.wait_for(inbox.arrived.wait(), 60)
    finally:
        manager.terminate()
        await manager.wait()
    mail = inbox.messages[0]
    assert "To: joho-system@city.example.lg.jp" in mail
    assert "Subject: [myna-ivr] FIRING IvrDeadLetters" in mail
    assert "3 call records were refused by the database" in mail
