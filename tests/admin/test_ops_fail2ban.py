"""fail2ban's admin filter against the lines the running admin site really writes."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ivr.dev.postgres import free_port

FILTER = Path(__file__).resolve().parents[2] / "ops" / "fail2ban" / "filter.d" / "ivr-admin.conf"


async def _failed_logins(base: str, address: str, times: int) -> list[int]:
    """Wrong passwords as from ``address`` (through the declared local proxy)."""
    statuses = []
    headers = {"X-Forwarded-For": address}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(100):  # the socket opens just after start-up
            try:
                async with http.get(f"{base}/login", headers=headers) as r:
                    html = await r.text()
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        form = {"csrf_token": token.group(1), "login_id": "nobody", "password": "guess-1234"}
        for _ in range(times):
            async with http.post(
                f"{base}/login", data=form, headers=headers, allow_redirects=False
            ) as r:
                statuses.append(r.status)
    return statuses


@pytest.mark.parametrize("json_logs", ["yes", "no"])
async def test_admin_filter_bans_the_address_the_site_logged(
    database_dsn: str, tmp_path: Path, json_logs: str
) -> None:
    """Failed logins (and attempts while locked out) are each one matching line naming
    the forwarded visitor's address, in JSON and in console format."""
    port = free_port()
    config = tmp_path / "ivr.yaml"
    config.write_text(
        f"admin:\n  port: {port}\n  cookie_secure: false\n"
        '  allowlist: ["127.0.0.0/8", "10.0.0.0/8"]\n  trusted_proxies: ["127.0.0.1/32"]\n'
        "  login_max_failures: 3\n"
        f'log:\n  json: "{json_logs}"\n',
        encoding="utf-8",
    )
    log = tmp_path / "admin.log"
    env = {**os.environ, "IVR_DATABASE_URL": database_dsn}
    with log.open("wb") as sink:
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr_admin", "serve", "--config", str(config),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
        try:
            statuses = await _failed_logins(f"http://127.0.0.1:{port}", "10.9.8.7", 5)
        finally:
            server.terminate()
            await server.wait()
    assert statuses == [401, 401, 429, 429, 429]  # the third failure starts the lockout
    done = subprocess.run(
        ["fail2ban-regex", "-v", str(log), str(FILTER)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    matched = done.stdout.split("Failregex:", 1)[1].split("Ignoreregex:", 1)[0]
    hits = re.findall(r"^\|\s{6}(\S+)\s{2}(.*)$", matched, re.MULTILINE)
    assert [address for address, _ in hits] == ["10.9.8.7"] * 5, done.stdout
    # Each line's own time was read (its "ts"), not the time fail2ban read it.
    dates = done.stdout.split("Date template hits:", 1)[1].split("`-", 1)[0]
    lines = len(log.read_text().splitlines())
    assert any(f"[{lines}] " in row and "ts" in row for row in dates.splitlines()), dates
