"""Source-address allowlist: parsing, matching, the client address, proxy snippets.

Pure functions; ``security.py`` stores the editable list and serves the page.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import Address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Entry:
    network: Network
    note: str = ""

    def line(self) -> str:
        return f"{self.network}  # {self.note}" if self.note else str(self.network)


def parse_network(text: str) -> Network:
    """One address or CIDR block; the message of ValueError is shown to staff."""
    text = text.strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"「{text}」はIPアドレスまたはCIDR表記ではありません。") from None
    raise ValueError(
        f"「{text}」はネットワークの先頭アドレスではありません。{loose} のことですか？"
    )


def parse_lines(text: str) -> tuple[list[Entry], list[str]]:
    """Parse one entry per line (``CIDR  # note``); return entries and line-numbered errors."""
    entries: list[Entry] = []
    errors: list[str] = []
    seen: set[Network] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        cidr, _, note = raw.partition("#")
        if not cidr.strip():
            continue
        try:
            network = parse_network(cidr)
        except ValueError as e:
            errors.append(f"{number}行目: {e}")
            continue
        if network not in seen:
            seen.add(network)
            entries.append(Entry(network, note.strip()[:100]))
    return entries, errors


def normalise(address: Address) -> Address:
    # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def allows(networks: Iterable[Network], address: Address) -> bool:
    address = normalise(address)
    return any(address.version == n.version and address in n for n in networks)


def parse_address(text: str) -> Address | None:
    try:
        return normalise(ipaddress.ip_address(text.strip().split("%", 1)[0]))
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> Address:
    """The address that made the request.

    X-Forwarded-For is believed only when it came from a trusted proxy; we walk it from
    the right and stop at the first hop that is not one of our proxies, so a client
    cannot smuggle an address by sending the header itself.
    """
    address = parse_address(peer or "") or ipaddress.IPv4Address("0.0.0.0")
    if not forwarded_for or not allows(trusted, address):
        return address
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        parsed = parse_address(hop)
        if parsed is None:
            return address  # a garbled header: fall back to the last trusted hop
        address = parsed
        if not allows(trusted, address):
            break
    return address


def render_nginx(networks: Iterable[Network]) -> str:
    """``allow``/``deny`` lines for an nginx ``location`` in front of the site."""
    lines = [f"allow {n};" for n in networks]
    return "\n".join([*lines, "deny all;"]) + "\n"


def render_caddy(networks: Iterable[Network]) -> str:
    """A Caddy matcher and handler answering 403 to every address outside the list."""
    ranges = " ".join(str(n) for n in networks) or "255.255.255.255/32"
    return f"@outside_allowlist not remote_ip {ranges}\nrespond @outside_allowlist 403\n"
