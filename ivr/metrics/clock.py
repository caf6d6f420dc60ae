"""Is the system clock synchronised? The calendar and two-step login depend on it.

The kernel knows: an NTP daemon (chrony, systemd-timesyncd, ntpd) that disciplines the
clock clears ``STA_UNSYNC``, and ``adjtimex(2)`` in read-only mode then returns a state
other than ``TIME_ERROR`` (``timedatectl``'s NTPSynchronized is read the same way). Where
that call is unavailable (not Linux, forbidden by a sandbox), ``timedatectl`` and
``chronyc`` are asked. When nothing answers the state is "unknown" — never "ok".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal

State = Literal["ok", "unsynchronised", "unknown"]
TIME_ERROR = 5  # adjtimex: the clock is not synchronised
_TIMEX_SIZE = 512  # struct timex is 208 bytes on 64-bit Linux; room to spare, zeroed


@dataclass(frozen=True)
class ClockStatus:
    state: State
    source: str  # adjtimex, timedatectl, chronyc, or "" when unknown
    detail: str = ""


def _adjtimex() -> ClockStatus | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(_TIMEX_SIZE)  # modes = 0: read only
        result = int(libc.adjtimex(buf))
    except (OSError, AttributeError) as e:
        return ClockStatus("unknown", "", f"adjtimex unavailable: {e}")
    if result < 0:
        return ClockStatus("unknown", "", f"adjtimex failed: errno {ctypes.get_errno()}")
    if result == TIME_ERROR:
        return ClockStatus("unsynchronised", "adjtimex", "kernel clock not disciplined by NTP")
    return ClockStatus("ok", "adjtimex", f"kernel clock state {result}")


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _timedatectl() -> ClockStatus | None:
    out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    value = (out or "").strip()
    if value == "yes":
        return ClockStatus("ok", "timedatectl")
    if value == "no":
        return ClockStatus("unsynchronised", "timedatectl", "NTPSynchronized=no")
    return None


def _chronyc() -> ClockStatus | None:
    return parse_chrony_tracking(_run(["chronyc", "-n", "tracking"]) or "")


def parse_chrony_tracking(out: str) -> ClockStatus | None:
    """``chronyc tracking``'s Leap status line: "Not synchronised" or a synchronised state."""
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Leap status":
            value = value.strip()
            if value == "Not synchronised":
                return ClockStatus("unsynchronised", "chronyc", value)
            return ClockStatus("ok", "chronyc", value)
    return None


def clock_status() -> ClockStatus:
    """The clock's state from the first source that can tell (blocking: run in a thread)."""
    first = _adjtimex()
    if first is not None and first.state != "unknown":
        return first
    for probe in (_timedatectl, _chronyc):
        found = probe()
        if found is not None:
            return found
    return first or ClockStatus("unknown", "", "no adjtimex, timedatectl or chronyc answer")
