"""A keyed-in number is read back from digit clips: the playlist holds the prompt's
fixed words and system/digit_N clips, and no audio file ever holds the number."""

from __future__ import annotations

from pathlib import Path

from ivr.call.prompts import PromptResolver
from ivr.flow.loader import load_flow
from ivr.flow.readback import digit_variables
from ivr.prompts.library import PromptLibrary

FLOW = """\
version: 1
start: confirm
prompts:
  confirm: {text: "入力された番号は、{digits_kana}、です。よろしければ1を押してください。"}
nodes:
  confirm: {type: hangup, prompt: confirm}
"""


async def test_number_is_read_back_from_digit_clips_only(tmp_path: Path) -> None:
    """The media list is: fixed words, 11 digit clips in two pauses' groups, fixed words;
    nothing synthesised or stored spells the number."""
    library = PromptLibrary(tmp_path / "sounds", "/snd")
    resolver = PromptResolver(library, load_flow(FLOW))
    assert await resolver.prebuild() == 2  # the words before and after the number
    before = set((tmp_path / "sounds" / "tts").iterdir())

    media = await resolver.media(["confirm"], digit_variables("09012345678"))
    assert set((tmp_path / "sounds" / "tts").iterdir()) == before  # nothing new on disk
    digits = [m.rsplit("digit_", 1)[1] for m in media if "/system/digit_" in m]
    assert "".join(digits) == "09012345678"
    assert media[0].startswith("sound:/snd/tts/") and media[-1].startswith("sound:/snd/tts/")
    assert media.count("sound:/snd/system/pause") == 2  # 090 | 1234 | 5678
    rendered = "入力された番号は、09012345678、です。よろしければ1を押してください。"
    assert not (tmp_path / "sounds" / f"tts/{library.key(rendered)}.wav").exists()
