"""fail2ban: the Asterisk filter against Asterisk 22's refusal lines, and the jails'
ignoreip carrying the carrier's addresses (the trunk is never banned)."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

OPS = Path(__file__).resolve().parents[2] / "ops" / "fail2ban"

# As Asterisk 22 writes them with asterisk-conf/logger.conf's dateformat: security.log
# (res_security_log) and messages.log (res_pjsip's distributor), for requests from
# addresses that are not the trunk.
ATTACKS = {
    "198.51.100.7": "[2026-11-30 16:34:15.123] SECURITY[4121] res_security_log.c: "
    'SecurityEvent="InvalidAccountID",EventTV="2026-11-30T16:34:15.123+0900",'
    'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="100",SessionID="1a2b3c",'
    'LocalAddress="IPV4/UDP/192.0.2.10/5060",RemoteAddress="IPV4/UDP/198.51.100.7/5060"',
    "198.51.100.8": "[2026-11-30 16:34:16.001] SECURITY[4121] res_security_log.c: "
    'SecurityEvent="ChallengeResponseFailed",EventTV="2026-11-30T16:34:16.001+0900",'
    'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="trunk",SessionID="4d5e",'
    'LocalAddress="IPV4/UDP/192.0.2.10/5060",RemoteAddress="IPV4/TCP/198.51.100.8/5062",'
    'Challenge="1700000000/abc",Response="def",ExpectedResponse=""',
    "198.51.100.9": "[2026-11-30 16:34:17.500] NOTICE[4122] res_pjsip/pjsip_distributor.c: "
    "Request 'INVITE' from '\"100\" <sip:100@198.51.100.9>' failed for '198.51.100.9:5070' "
    "(callid: 8f3c) - No matching endpoint found",
    "2001:db8::10": "[2026-11-30 16:34:18.000] NOTICE[4122][C-0000001a] "
    "res_pjsip/pjsip_distributor.c:678 log_failed_request: Request 'REGISTER' from "
    "'<sip:admin@192.0.2.10>' failed for '[2001:db8::10]:5060' (callid: 77aa) - "
    "Failed to authenticate",
}
HARMLESS = [
    '[2026-11-30 16:34:19.000] SECURITY[4121] res_security_log.c: SecurityEvent="SuccessfulAuth"'
    ',EventTV="2026-11-30T16:34:19.000+0900",Severity="Informational",Service="PJSIP",'
    'EventVersion="1",AccountID="trunk",SessionID="x",LocalAddress="IPV4/UDP/192.0.2.10/5060",'
    'RemoteAddress="IPV4/UDP/203.0.113.5/5060",UsingPassword="0"',
    "[2026-11-30 16:34:20.000] VERBOSE[4123][C-0000001a] pbx.c: Executing [s@from-trunk:1] "
    'Answer("PJSIP/trunk-00000001", "") in new stack',
]


def matched_lines(filter_name: str, log: Path) -> int:
    done = subprocess.run(
        ["fail2ban-regex", str(log), str(OPS / "filter.d" / f"{filter_name}.conf")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    summary = [ln for ln in done.stdout.splitlines() if ln.startswith("Lines:")]
    assert summary, done.stdout
    return int(summary[0].split(",")[2].split()[0])  # "Lines: 6 lines, 0 ignored, 4 matched, ..."


def test_asterisk_filter_catches_every_refusal_and_nothing_else(tmp_path: Path) -> None:
    """Each refused request counts against its source address; successful
    authentication and ordinary call lines never do."""
    log = tmp_path / "security.log"
    log.write_text("\n".join([*ATTACKS.values(), *HARMLESS]) + "\n")
    assert matched_lines("asterisk-ivr", log) == len(ATTACKS)
    hosts = subprocess.run(
        ["fail2ban-regex", "-v", str(log), str(OPS / "filter.d" / "asterisk-ivr.conf")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    for address in ATTACKS:
        assert f"|      {address}  " in hosts, address
    assert "203.0.113.5" not in hosts.split("Missed line")[0].split("Ignoreregex")[0]


def _fail2ban_conf(tmp_path: Path) -> Path:
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    return conf


def _dump(conf: Path) -> list[list[object]]:
    done = subprocess.run(
        ["fail2ban-client", "-c", str(conf), "-d"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [ast.literal_eval(line) for line in done.stdout.splitlines() if line.startswith("[")]


def test_jails_never_ban_the_carrier(tmp_path: Path) -> None:
    """install.sh puts the trunk's signalling and media addresses into both jails'
    ignoreip, and the Asterisk jail bans every protocol (SIP is UDP)."""
    conf = _fail2ban_conf(tmp_path)
    env = tmp_path / ".env"
    env.write_text(
        'IVR_TRUNK_HOST=203.0.113.5\nIVR_CARRIER_ADDRESSES="203.0.113.64/28, 198.18.0.0/24"\n'
    )
    subprocess.run(["bash", str(OPS / "install.sh"), str(env), str(conf)], check=True, timeout=60)
    dump = _dump(conf)
    ignored = {
        str(c[1]): [str(a) for a in c[3:]]
        for c in dump
        if c[:1] == ["set"] and c[2] == "addignoreip"
    }
    carrier = ["203.0.113.5", "203.0.113.64/28", "198.18.0.0/24"]
    assert set(ignored) == {"asterisk-ivr", "ivr-admin"}
    for jail, addresses in ignored.items():
        assert all(a in addresses for a in carrier), (jail, addresses)
    actions = [c for c in dump if c[:2] == ["multi-set", "asterisk-ivr"] and c[2] == "action"]
    assert actions and ["protocol", "all"] in actions[0][4]  # type: ignore[operator]


def test_install_refuses_without_the_carrier_addresses(tmp_path: Path) -> None:
    """Without IVR_CARRIER_ADDRESSES nothing is installed: the trunk could be banned."""
    conf = _fail2ban_conf(tmp_path)
    env = tmp_path / ".env"
    env.write_text("IVR_TRUNK_HOST=203.0.113.5\n")
    done = subprocess.run(
        ["bash", str(OPS / "install.sh"), str(env), str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "IVR_CARRIER_ADDRESSES" in done.stderr
    assert not (conf / "jail.d" / "ivr.conf").exists()


@pytest.fixture(autouse=True)
def _needs_fail2ban() -> None:
    """fail2ban comes with scripts/install-system.sh (make test installs it)."""
    assert shutil.which("fail2ban-regex"), "fail2ban missing: run bash scripts/install-system.sh"
