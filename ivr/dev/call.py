"""``make call DIGITS="1"``: a real SIPp call into the system ``make run`` started.

The caller (09012345678) waits for the main menu, presses each key in turn,
listens, and hangs up; then the call's database row is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

import asyncpg

from ivr.app import DEFAULT_FLOW
from ivr.dev.run import STATE
from ivr.dev.sipp import Step, place_call
from ivr.flow.loader import load_flow_file
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts import audio
from ivr.prompts.library import PromptLibrary

CALLER = "09012345678"


def prompt_ms(library: PromptLibrary, flow: Flow, prompt_id: str, default: int = 8000) -> int:
    """Length of a prompt's audio in ms, or ``default`` if not built yet."""
    path = library.sounds_dir / f"tts/{library.key(flow.prompts[prompt_id].text)}{library.ext}"
    if not path.exists():
        return default
    return int(audio.duration(path.read_bytes(), library.rate) * 1000)


def menu_steps(library: PromptLibrary, flow: Flow, digits: str, gap_ms: int = 4000) -> list[Step]:
    """Press the first key while the main menu plays, the others ``gap_ms`` apart."""
    steps = []
    for i, digit in enumerate(digits):
        wait = prompt_ms(library, flow, "welcome") + 2000 if i == 0 else gap_ms
        steps.append(Step(wait, digit))
    return steps


async def main() -> int:
    parser = argparse.ArgumentParser(description="place a test call into the running IVR")
    parser.add_argument("--digits", default="1", help="keys to press, e.g. 1 or 12")
    parser.add_argument("--dialled", default="0501234567")
    parser.add_argument(
        "--listen", type=int, default=8, help="seconds to listen after the last key"
    )
    args = parser.parse_args()
    if not STATE.exists():
        print("The system is not running: start it with `make run` first.", file=sys.stderr)
        return 1
    state = json.loads(STATE.read_text())
    flow = load_flow_file(DEFAULT_FLOW)
    library = PromptLibrary(Path(state["sounds_dir"]), state["asterisk_sounds_dir"])
    since = datetime.now(TOKYO)
    print(f"calling {args.dialled} from {CALLER}, pressing {args.digits!r} ...")
    result = await place_call(
        state["sip_port"],
        args.dialled,
        CALLER,
        menu_steps(library, flow, args.digits),
        tail_ms=args.listen * 1000,
    )
    print("SIPp:", "call completed" if result.ok else f"FAILED\n{result.output}")
    conn = await asyncpg.connect(state["dsn"])
    try:
        for _ in range(50):
            row = await conn.fetchrow(
                "SELECT * FROM calls WHERE started_at >= $1 AND ended_at IS NOT NULL "
                "ORDER BY started_at DESC LIMIT 1",
                since,
            )
            if row:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    if row is None:
        print("no call record found", file=sys.stderr)
        return 1
    answered, ended = (
        row[k].astimezone(TOKYO).strftime("%H:%M:%S.%f")[:-3] for k in ("answered_at", "ended_at")
    )
    print(
        f"recorded: caller={row['caller']} digits={row['digits']!r} outcome={row['outcome']}\n"
        f"          answered={answered} ended={ended} (Asia/Tokyo)\n"
        f"          path={' > '.join(row['path'])}"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
