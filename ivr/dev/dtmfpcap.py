"""RFC 4733 key presses written as pcap files for SIPp's ``play_pcap_audio``.

SIPp's bundled recordings all carry one SSRC with fixed sequence numbers and
timestamps, so after the first key Asterisk sees the next one's RTP going
backwards and ignores it. Writing each press with ever-increasing sequence
numbers and timestamps makes a whole key sequence arrive as a phone sends it.
"""

from __future__ import annotations

import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PAYLOAD_TYPE = 101  # matches a=rtpmap:101 telephone-event/8000 in the test caller's SDP
SSRC = 0x1D0CA11E
PACKET_MS = 20
PRESS_PACKETS = 8  # 160 ms of tone, then three end packets (RFC 4733 redundancy)


def _packet(
    seq: int, ts: int, event: int, end: bool, duration: int, marker: bool, t_us: int
) -> bytes:
    rtp = struct.pack(
        ">BBHII", 0x80, (0x80 if marker else 0) | PAYLOAD_TYPE, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC
    )
    rtp += struct.pack(">BBH", event, (0x80 if end else 0) | 10, duration)
    udp = struct.pack(">HHHH", 6000, 6001, 8 + len(rtp), 0) + rtp  # checksum 0: none
    ip = (
        struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            0,
            0,
            64,
            17,
            0,
            bytes([127, 0, 0, 1]),
            bytes([127, 0, 0, 1]),
        )
        + udp
    )
    frame = b"\x00" * 12 + b"\x08\x00" + ip  # Ethernet II, IPv4
    return struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)) + frame


def write_press(path: Path, digit: str, index: int) -> None:
    """Write one key press; ``index`` orders presses within a call (0, 1, 2, ...)."""
    event = EVENTS[digit]
    seq0 = 1000 + index * 16
    ts0 = 8000 + index * 16000  # 2 s of timestamp space per press: always increasing
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap header, Ethernet
    for i in range(PRESS_PACKETS):
        out.append(
            _packet(seq0 + i, ts0, event, False, 160 * (i + 1), i == 0, i * PACKET_MS * 1000)
        )
    end_duration = 160 * (PRESS_PACKETS + 1)
    for j in range(3):
        t = (PRESS_PACKETS * PACKET_MS + j) * 1000
        out.append(_packet(seq0 + PRESS_PACKETS, ts0, event, True, end_duration, False, t))
    path.write_bytes(b"".join(out))
