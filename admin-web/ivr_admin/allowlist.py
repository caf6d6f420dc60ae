"""Source-address allowlist: parsing, matching, the client address, proxy snippets.

Pure functions; ``security.py`` stores the editable list and serves the page.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import ForwardingRefused
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


# Headers by which a proxy tells us who its client was. We read the first two; the last
# is listed so that a proxy sending only it is noticed instead of silently believed.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

UNREADABLE = (
    "転送ヘッダー（X-Forwarded-For・Forwarded）から接続元のアドレスを読み取れません。"
    "中継サーバーの設定を確認してください。"
)


def _xff_hops(value: str) -> list[Address | None]:
    return [parse_address(h) for h in value.split(",") if h.strip()]


def _forwarded_hops(value: str) -> list[Address | None]:
    """The ``for=`` of each element of an RFC 7239 header; None where there is no address
    (``for=unknown``, an obfuscated name, no ``for`` at all)."""
    hops: list[Address | None] = []
    for element in value.split(","):
        if not element.strip():
            continue
        node = ""
        for pair in element.split(";"):
            key, _, val = pair.partition("=")
            if key.strip().lower() == "for":
                node = val.strip().strip('"')
        if node.startswith("["):  # "[2001:db8::1]:4711"
            node = node[1:].partition("]")[0]
        elif node.count(":") == 1:  # "192.0.2.1:4711"
            node = node.partition(":")[0]
        hops.append(parse_address(node) if node else None)
    return hops


def _walk(hops: list[Address | None], peer: Address, trusted: Sequence[Network]) -> Address:
    # From the right: each hop was written by the one after it; stop at the first that
    # is not one of our proxies, so a client cannot smuggle in an address of its own.
    if not hops:
        raise ForwardingRefused(UNREADABLE)
    address = peer
    for hop in reversed(hops):
        if hop is None:
            raise ForwardingRefused(UNREADABLE)
        address = hop
        if not allows(trusted, address):
            break
    return address


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted: Sequence[Network]
) -> Address:
    """The address that made the request, from the peer and its forwarding headers.

    ``headers`` maps the names in FORWARDING_HEADERS that the request carried to their
    values (repeated lines joined with commas). They are believed only from a declared
    proxy (``trusted_proxies``), and a request carrying one from any other peer is
    refused (ForwardingRefused): a proxy nobody declared, e.g. one on this very host,
    would otherwise make every visitor look like its own, allowlisted address. An
    unreadable header, or X-Forwarded-For and Forwarded naming different clients, is
    refused too rather than falling back to the proxy's own address.
    """
    address = parse_address(peer or "") or ipaddress.IPv4Address("0.0.0.0")
    present = {name: value for name, value in headers.items() if value.strip()}
    if not present:
        return address
    if not allows(trusted, address):
        raise ForwardingRefused()
    found: set[Address] = set()
    if "X-Forwarded-For" in present:
        found.add(_walk(_xff_hops(present["X-Forwarded-For"]), address, trusted))
    if "Forwarded" in present:
        found.add(_walk(_forwarded_hops(present["Forwarded"]), address, trusted))
    if len(found) != 1:  # only X-Real-IP, or two headers that disagree
        raise ForwardingRefused(UNREADABLE)
    return found.pop()


def render_nginx(networks: Iterable[Network]) -> str:
    """``allow``/``deny`` lines for an nginx ``location`` in front of the site."""
    lines = [f"allow {n};" for n in networks]
    return "\n".join([*lines, "deny all;"]) + "\n"


def render_caddy(networks: Iterable[Network]) -> str:
    """A Caddy matcher and handler answering 403 to every address outside the list."""
    ranges = " ".join(str(n) for n in networks) or "255.255.255.255/32"
    return f"@outside_allowlist not remote_ip {ranges}\nrespond @outside_allowlist 403\n"
