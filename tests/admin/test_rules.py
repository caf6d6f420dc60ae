"""Pure rules: allowlist parsing and matching, client address, proxy snippets, password policy."""

from __future__ import annotations

import ipaddress

import pytest

from ivr.config import ConfigError
from ivr_admin import access, allowlist, create_app, passwords
from ivr_admin.errors import ForwardingRefused
from ivr_admin.model import Role

from .conftest import admin_settings

NETS = [allowlist.parse_network(c) for c in ("127.0.0.0/8", "10.0.0.0/8", "2001:db8::/32")]
PROXY = [allowlist.parse_network("127.0.0.1/32")]


def test_parse_lines_reports_errors_by_line_and_keeps_notes() -> None:
    """Each bad line is named with a hint; notes after # are kept; duplicates collapse."""
    entries, errors = allowlist.parse_lines(
        "203.0.113.0/24  # 本庁舎\n\n192.168.1.5/24\nnot-an-address\n203.0.113.0/24\n2001:db8::/48"
    )
    assert [e.line() for e in entries] == ["203.0.113.0/24  # 本庁舎", "2001:db8::/48"]
    assert errors == [
        "3行目: 「192.168.1.5/24」はネットワークの先頭アドレスではありません。"
        "192.168.1.0/24 のことですか？",
        "4行目: 「not-an-address」はIPアドレスまたはCIDR表記ではありません。",
    ]


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("10.1.1.1", {}, "10.1.1.1"),
        ("127.0.0.1", {"X-Forwarded-For": "192.0.2.1"}, "192.0.2.1"),
        ("127.0.0.1", {"X-Forwarded-For": "192.0.2.1, 198.51.100.2"}, "198.51.100.2"),
        ("127.0.0.1", {"X-Forwarded-For": "192.0.2.1, 127.0.0.1"}, "192.0.2.1"),  # proxy chain
        ("::ffff:127.0.0.1", {"X-Forwarded-For": "192.0.2.1"}, "192.0.2.1"),  # mapped peer
        ("127.0.0.1", {"X-Forwarded-For": ""}, "127.0.0.1"),  # empty: as if absent
        ("127.0.0.1", {"Forwarded": "for=192.0.2.1;proto=https"}, "192.0.2.1"),
        ("127.0.0.1", {"Forwarded": 'for=192.0.2.1, for="[2001:db8::1]:4711"'}, "2001:db8::1"),
        ("127.0.0.1", {"Forwarded": "For=192.0.2.1:4711, for=127.0.0.1"}, "192.0.2.1"),
        (
            "127.0.0.1",
            {"X-Forwarded-For": "192.0.2.1", "Forwarded": "for=192.0.2.1", "X-Real-IP": "x"},
            "192.0.2.1",
        ),
    ],
)
def test_client_address_believes_declared_proxies(
    peer: str, headers: dict[str, str], expected: str
) -> None:
    """Forwarding headers from a declared proxy are walked from the right to the first
    hop that is not one of our proxies."""
    assert str(allowlist.client_address(peer, headers, PROXY)) == expected


@pytest.mark.parametrize(
    ("peer", "headers"),
    [
        ("10.1.1.1", {"X-Forwarded-For": "127.0.0.1"}),  # undeclared peer
        ("10.1.1.1", {"Forwarded": "for=127.0.0.1"}),
        ("10.1.1.1", {"X-Real-IP": "127.0.0.1"}),
        ("127.0.0.1", {"X-Forwarded-For": "garbage"}),  # unreadable: not the proxy's address
        ("127.0.0.1", {"X-Forwarded-For": " , "}),
        ("127.0.0.1", {"Forwarded": "for=unknown"}),
        ("127.0.0.1", {"Forwarded": "proto=https"}),
        ("127.0.0.1", {"X-Real-IP": "192.0.2.1"}),  # a header we do not read
        ("127.0.0.1", {"X-Forwarded-For": "192.0.2.1", "Forwarded": "for=192.0.2.2"}),
    ],
)
def test_client_address_refuses_unbelievable_forwarding(peer: str, headers: dict[str, str]) -> None:
    """Forwarding headers from an undeclared peer, unreadable, or contradicting each other
    are refused, never resolved to the peer's own (possibly allowlisted) address."""
    with pytest.raises(ForwardingRefused):
        allowlist.client_address(peer, headers, PROXY)


def test_allows_matches_v4_v6_and_mapped_addresses() -> None:
    """Membership works for IPv4, IPv6 and IPv4-mapped IPv6 addresses."""
    assert allowlist.allows(NETS, ipaddress.ip_address("10.200.0.1"))
    assert allowlist.allows(NETS, ipaddress.ip_address("::ffff:10.0.0.1"))
    assert allowlist.allows(NETS, ipaddress.ip_address("2001:db8::5"))
    assert not allowlist.allows(NETS, ipaddress.ip_address("192.0.2.1"))
    assert not allowlist.allows([], ipaddress.ip_address("127.0.0.1"))


def test_proxy_snippets_list_every_network() -> None:
    """The nginx and Caddy lines allow exactly the list and deny the rest."""
    assert allowlist.render_nginx(NETS[:2]) == "allow 127.0.0.0/8;\nallow 10.0.0.0/8;\ndeny all;\n"
    caddy = allowlist.render_caddy(NETS[:2])
    assert caddy.startswith("@outside_allowlist not remote_ip 127.0.0.0/8 10.0.0.0/8\n")
    assert "respond @outside_allowlist 403" in caddy


@pytest.mark.parametrize(
    "password",
    [
        "short-pw",
        "password1234",
        "P@ssw0rd2024!",
        "Sakura19900101",
        "qwertyuiop123",
        "aaaaaaaaaaaaaaa",
        "tanaka-is-my-name",
        "123456789012",
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    """Short, common, leet-spelled, login-ID-containing and repetitive passwords are refused."""
    assert passwords.problems(password, "tanaka")


@pytest.mark.parametrize(
    "password", ["kumo-yama-umi-sora-7", "correct horse battery staple", "東京都庁第一本庁舎の窓口"]
)
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    """Long passphrases (Japanese too) pass the policy."""
    assert passwords.problems(password, "tanaka") == []


def test_hash_is_argon2id_with_owasp_parameters() -> None:
    """Hashes are Argon2id with 19 MiB memory and 2 iterations, and verify correctly."""
    hashed = passwords.hash_now("kumo-yama-umi-sora-7")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_now(hashed, "kumo-yama-umi-sora-7")
    assert not passwords.verify_now(hashed, "kumo-yama-umi-sora-8")
    assert not passwords.verify_now(None, "anything")
    assert len(passwords.common_passwords()) > 3000


def test_generated_initial_passwords_are_unique_and_valid() -> None:
    """Initial passwords are random, readable and pass the policy themselves."""
    issued = {passwords.generate() for _ in range(200)}
    assert len(issued) == 200
    assert all(passwords.problems(p) == [] for p in issued)


def test_access_table_covers_every_area() -> None:
    """Prefix rules: operator areas need operator, admin areas administrator, the rest viewer."""
    assert access.required_role("/calendar/2025") is Role.OPERATOR
    assert access.required_role("/calendarx") is Role.VIEWER
    assert access.required_role("/audit/export.csv") is Role.ADMINISTRATOR
    assert access.required_role("/api/allowlist/check") is Role.ADMINISTRATOR
    assert access.required_role("/") is Role.VIEWER
    assert [g for g, _ in access.navigation(Role.OPERATOR)] == ["状況", "運用"]


def test_bad_allowlist_in_config_stops_start_up() -> None:
    """A typo in admin.allowlist or admin.trusted_proxies fails at start-up, naming the key."""
    with pytest.raises(ConfigError, match=r"admin\.allowlist\[1\]"):
        create_app(admin_settings(allowlist=("10.0.0.0/8", "10.0.0.300/32")), "postgresql://x/y")
    with pytest.raises(ConfigError, match=r"admin\.trusted_proxies\[0\]"):
        create_app(admin_settings(trusted_proxies=("proxy",)), "postgresql://x/y")
