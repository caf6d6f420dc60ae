"""A minimal SMTP server on loopback that keeps every message it accepts (the city's
SMTP server, for the alert mails of the unit and deployment tests)."""

from __future__ import annotations

import asyncio


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.arrived = asyncio.Event()
        self.port = 0

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client's SMTP conversation (``asyncio.start_server`` callback)."""
        writer.write(b"220 inbox.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250-inbox.test\r\n250 8BITMIME\r\n")
            elif verb == "DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                body = []
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    body.append(chunk.decode(errors="replace"))
                self.messages.append("".join(body))
                self.arrived.set()
                writer.write(b"250 queued\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()
