"""The command line: create the first administrator, then serve the site from a config file."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import asyncpg

from ivr.dev.postgres import free_port


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr_admin",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_create_admin_then_serve_and_log_in(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """create-admin prints a one-time password and the login URL; `serve` runs the site from a
    config file, and that password logs in and must be changed."""
    port = free_port()
    config = tmp_path / "ivr.yaml"
    config.write_text(f"admin:\n  port: {port}\n  cookie_secure: false\n", encoding="utf-8")
    env = {**os.environ, "IVR_DATABASE_URL": database_dsn}

    code, out, err = await _run("create-admin", "First.Admin", "--config", str(config), env=env)
    assert code == 0, err
    password = re.search(r"初期パスワード:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    assert f"http://127.0.0.1:{port}/login" in out and "ログインID:       first.admin" in out
    assert (
        await db.fetchval("SELECT role FROM admin_accounts WHERE login_id = 'first.admin'")
        == "administrator"
    )

    code, _, err = await _run("create-admin", "first.admin", "--config", str(config), env=env)
    assert code == 1 and "すでにあります" in err

    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr_admin",
        "serve",
        "--config",
        str(config),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        banner = ""
        while "/login" not in banner:  # log lines (stderr) may come first
            banner = (await asyncio.wait_for(server.stdout.readline(), 30)).decode()
            assert banner, "serve exited before printing its URL"
        assert f"管理画面: http://127.0.0.1:{port}/login" in banner
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for _ in range(50):  # the socket opens just after the banner
                try:
                    async with http.get(f"{base}/login") as r:
                        html = await r.text()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
            form = {"csrf_token": token, "login_id": "first.admin", "password": password}
            async with http.post(f"{base}/login", data=form) as r:
                assert r.status == 200 and str(r.url) == f"{base}/password"
    finally:
        server.terminate()
        await server.wait()
