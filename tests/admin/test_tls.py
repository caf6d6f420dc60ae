"""HTTPS served by the site itself: TLS 1.2 and 1.3 only, intermediate ciphers, HSTS."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import warnings
from pathlib import Path

import pytest

from ivr_admin import tls

from .conftest import Serve, admin_settings


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _client(cert: Path, version: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    with warnings.catch_warnings():
        # Python flags TLS 1.0/1.1 as deprecated; here we use them on purpose.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = min(version, ssl.TLSVersion.TLSv1_2)
        ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


async def _get(url: str, ctx: ssl.SSLContext) -> tuple[str, str]:
    """Fetch /healthz over TLS; return the negotiated version and the raw response head."""
    host, port = url.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
    version = writer.get_extra_info("ssl_object").version()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head = (await reader.read()).decode("utf-8", "replace")
    writer.close()
    await writer.wait_closed()
    return version, head


async def test_tls_12_and_13_succeed_and_11_is_refused(
    serve: Serve, certificate: tuple[Path, Path]
) -> None:
    """Clients speaking TLS 1.3 or 1.2 get the page (with HSTS); a TLS 1.1 client is refused."""
    cert, key = certificate
    url = await serve(admin_settings(cookie_secure=True), tls.server_context(str(cert), str(key)))
    version, head = await _get(url, _client(cert, ssl.TLSVersion.TLSv1_3))
    assert version == "TLSv1.3" and head.startswith("HTTP/1.1 200")
    assert "Strict-Transport-Security: max-age=63072000" in head
    version, head = await _get(url, _client(cert, ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2" and head.startswith("HTTP/1.1 200")

    old = _client(cert, ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):  # alert or reset: no session
        await _get(url, old)


async def test_tls_12_without_forward_secrecy_is_refused(
    serve: Serve, certificate: tuple[Path, Path]
) -> None:
    """A TLS 1.2 client offering only ciphers outside Mozilla's intermediate list is refused."""
    cert, key = certificate
    url = await serve(admin_settings(), tls.server_context(str(cert), str(key)))
    with pytest.raises((ssl.SSLError, ConnectionResetError)):  # alert or reset: no session
        await _get(url, _client(cert, ssl.TLSVersion.TLSv1_2, "AES128-SHA:AES256-SHA256"))
