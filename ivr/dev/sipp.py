"""Real test calls with SIPp: a caller that dials, waits, and presses keys as RTP DTMF.

Used by the end-to-end tests and by ``make call``. Scenarios are generated per
call so that the pauses between keys fit the prompts actually being played.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ivr.dev.dtmfpcap import write_press
from ivr.dev.postgres import free_port

DTMF_MS = 300  # each key press (see dtmfpcap) lasts about this long, with its end packets


@dataclass(frozen=True)
class Step:
    """Wait ``wait_ms``, then press ``digit`` (or press nothing when digit is "")."""

    wait_ms: int
    digit: str = ""


# -- builders of SIPp XML, shared with the city phone of the transfer tests -------

# The far end hangs up: answer its BYE.
AWAIT_BYE = """<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>"""


def send_bye(from_: str, to: str, call_id: str = "Call-ID: [call_id]", contact: str = "") -> str:
    """Hang up ourselves: a BYE with these From/To, Call-ID (and Contact) lines.
    A UAS ends a dialog it did not start: it names the call with ``[last_Call-ID:]``."""
    contact_line = f"Contact: {contact}\n" if contact else ""
    return f"""<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {from_}
To: {to}
{call_id}
CSeq: 2 BYE
{contact_line}Max-Forwards: 70
Content-Length: 0

]]></send>"""


def sdp(owner: str, dtmf: bool) -> str:
    """An audio offer or answer in PCMU; ``dtmf``: with RFC 4733 key presses."""
    if dtmf:
        media = """m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv"""
    else:
        media = """m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000"""
    return f"""v=0
o={owner} 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
{media}"""


def wrap(name: str, body: str) -> str:
    """The scenario document around ``body``."""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="{name}">
{body}
</scenario>
"""


def sipp_binary() -> str:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp not found: run scripts/install-system.sh (Debian sip-tester)")
    return sipp


def scenario(
    caller: str,
    steps: list[Step],
    pcap_dir: Path,
    end: str = "caller_bye",
    tail_ms: int = 1000,
    withheld: bool = False,
) -> str:
    """SIPp UAC XML; key presses are written as pcaps into ``pcap_dir``.

    ``end``: ``caller_bye`` (we hang up after ``tail_ms``) or ``await_bye``
    (Asterisk must hang up on us)."""
    actions = []
    presses = 0
    for step in steps:
        if step.wait_ms:
            actions.append(f'<pause milliseconds="{step.wait_ms}"/>')
        if step.digit:
            pcap = pcap_dir / f"press{presses}.pcap"
            write_press(pcap, step.digit, presses)
            presses += 1
            actions.append(
                f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
                f'<pause milliseconds="{DTMF_MS}"/>'
            )
    me = f"<sip:{caller}@[local_ip]:[local_port]>"
    tag = ";tag=[pid]SIPpTag00[call_number]"
    service = "<sip:[service]@[remote_ip]:[remote_port]>"
    if end == "caller_bye":
        ending = f"""<pause milliseconds="{tail_ms}"/>
{send_bye(me + tag, service + "[peer_tag_param]")}
<recv response="200" crlf="true"/>"""
    else:
        ending = AWAIT_BYE
    # 184: the carrier passes the number but asks for it not to be shown (RFC 3323/3325).
    privacy = f"\nP-Asserted-Identity: <sip:{caller}@[local_ip]>\nPrivacy: id" if withheld else ""
    return wrap(
        "ivr test caller",
        f"""<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {me}{tag}
To: {service}
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: {me}
Max-Forwards: 70{privacy}
Content-Type: application/sdp
Content-Length: [len]

{sdp("caller", dtmf=True)}
]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="183" optional="true"/>
<recv response="200" rtd="true" rrs="true"/>
<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {me}{tag}
To: {service}[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: {me}
Max-Forwards: 70
Content-Length: 0

]]></send>
{chr(10).join(actions)}
{ending}
<ResponseTimeRepartition value="100, 500, 1000"/>""",
    )


@dataclass
class CallResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


async def place_call(
    sip_port: int,
    dialled: str,
    caller: str,
    steps: list[Step],
    end: str = "caller_bye",
    tail_ms: int = 1000,
    timeout: float = 120,
    withheld: bool = False,
) -> CallResult:
    """Run one SIPp call to 127.0.0.1:``sip_port``; returns SIPp's exit code and output."""
    sipp = sipp_binary()
    with tempfile.TemporaryDirectory(prefix="ivr-sipp-") as tmp:
        scen = Path(tmp) / "caller.xml"
        scen.write_text(scenario(caller, steps, Path(tmp), end, tail_ms, withheld))
        proc = await asyncio.create_subprocess_exec(
            sipp,
            f"127.0.0.1:{sip_port}",
            "-sf",
            str(scen),
            "-m",
            "1",
            "-l",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-mp",
            str(free_port()),
            "-s",
            dialled,
            "-timeout",
            f"{int(timeout)}s",
            "-timeout_error",
            "-recv_timeout",
            f"{int(timeout * 1000)}",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(Path(tmp) / "err.log"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp,
        )
        out, _ = await proc.communicate()
        err = (
            (Path(tmp) / "err.log").read_text(errors="replace")
            if (Path(tmp) / "err.log").exists()
            else ""
        )
        return CallResult(proc.returncode or 0, out.decode(errors="replace")[-3000:] + err[-3000:])
