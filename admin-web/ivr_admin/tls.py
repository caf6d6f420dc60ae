"""HTTPS when the site terminates TLS itself: TLS 1.2 and 1.3 only."""

from __future__ import annotations

import ssl

# Mozilla "intermediate" (v5.7) cipher list for TLS 1.2; TLS 1.3 suites are OpenSSL's defaults,
# which are exactly the ones that profile lists.
INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ]
)


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for the given PEM certificate chain and key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(INTERMEDIATE_CIPHERS)
    # The profile leaves the choice to the client (all listed ciphers are strong), and
    # compression and renegotiation stay off.
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(cert_file, key_file)
    return ctx
