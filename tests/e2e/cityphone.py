"""A SIPp UAS on the trunk's address playing the city's phone for transfers: it
answers and talks for a while (then hangs up, or waits for the caller to), or answers
486 Busy, or rings until cancelled, or fails with 503.

    phone = await CityPhone.start(trunk_port, answer(hold_ms=3000), calls=1, workdir)
    ...
    result = await phone.finish()   # SIPp's exit code and output; .invites: what it got
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ivr.dev import sipp
from ivr.dev.postgres import free_port

_HEAD = """[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]"""

_RINGING = f"""<send><![CDATA[
SIP/2.0 180 Ringing
{_HEAD}
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>"""

# Keep the caller's From and the callee's To of the INVITE, for a BYE of our own.
_RECV_INVITE = """<recv request="INVITE" crlf="true" rrs="true">
  <action>
    <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="1"/>
    <ereg regexp="sip:[^>;]*" search_in="hdr" header="To:" check_it="true" assign_to="2"/>
  </action>
</recv>"""


def _scenario(name: str, body: str) -> str:
    return sipp.wrap(f"city phone: {name}", body)


def answer(hold_ms: int = 3000, ring_ms: int = 800, hang_up: bool = True) -> str:
    """Ring, answer, talk ``hold_ms``; then hang up (``hang_up``) or wait for the BYE."""
    if hang_up:
        bye = sipp.send_bye(
            "<[$2]>;tag=[pid]SIPpTag01[call_number]",
            "[$1]",
            call_id="[last_Call-ID:]",
            contact="<sip:[local_ip]:[local_port]>",
        )
        ending = f"""<pause milliseconds="{hold_ms}"/>
{bye}
<recv response="200"/>"""
    else:
        ending = sipp.AWAIT_BYE
    return _scenario(
        "answers",
        f"""{_RECV_INVITE}
{_RINGING}
<pause milliseconds="{ring_ms}"/>
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
{_HEAD}
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sipp.sdp("city", dtmf=False)}
]]></send>
<recv request="ACK" crlf="true"/>
{ending}""",
    )


def refuse(code: int) -> str:
    """Answer the INVITE with ``code`` at once (486 busy, 503 unavailable)."""
    return _scenario(
        f"refuses {code}",
        f"""<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 {code} {"Busy Here" if code == 486 else "Service Unavailable"}
{_HEAD}
Content-Length: 0

]]></send>
<recv request="ACK"/>""",
    )


def ring() -> str:
    """Ring until the INVITE is cancelled (ring time out, or the caller hung up)."""
    return _scenario(
        "rings",
        f"""<recv request="INVITE" crlf="true"/>
{_RINGING}
<recv request="CANCEL"/>
<send><![CDATA[
SIP/2.0 200 OK
{_HEAD}
Content-Length: 0

]]></send>
<send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [cseq] INVITE
Content-Length: 0

]]></send>
<recv request="ACK"/>""",
    )


@dataclass
class CityPhone:
    proc: asyncio.subprocess.Process
    workdir: Path
    output: str = ""
    returncode: int | None = None
    invites: list[str] = field(default_factory=list)

    @classmethod
    async def start(cls, port: int, scenario: str, workdir: Path, calls: int = 1) -> CityPhone:
        workdir.mkdir(parents=True, exist_ok=True)
        scen = workdir / "city.xml"
        scen.write_text(scenario)
        proc = await asyncio.create_subprocess_exec(
            sipp.sipp_binary(),
            "-sf", str(scen),
            "-i", "127.0.0.1",
            "-p", str(port),
            "-mp", str(free_port()),
            "-m", str(calls),
            "-timeout", "90s",
            "-nostdin",
            "-trace_msg",
            "-message_file", str(workdir / "messages.log"),
            "-trace_err",
            "-error_file", str(workdir / "errors.log"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workdir,
        )  # fmt: skip
        await asyncio.sleep(0.3)  # bound to its port before anyone calls it
        return cls(proc, workdir)

    async def finish(self, timeout: float = 30) -> CityPhone:
        """Wait until it has taken its calls (killed after ``timeout``)."""
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            out, _ = await self.proc.communicate()
        self.returncode = self.proc.returncode
        errors = self.workdir / "errors.log"
        self.output = out.decode(errors="replace")[-2000:] + (
            errors.read_text(errors="replace")[-2000:] if errors.exists() else ""
        )
        log = self.workdir / "messages.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        self.invites = re.findall(r"^INVITE sip:.*?(?:\n\s*\n|\Z)", text, re.M | re.S)
        return self

    @property
    def ok(self) -> bool:
        return self.returncode == 0
