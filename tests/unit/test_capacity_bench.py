"""The bench's native column: the shipped flow's first menu, written as dialplan on the
same prompt files, routed from [from-trunk] for the bench's number only."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare import Level, Run
from bench.native import CONTEXT, NUMBER, NoMenu, dialplan, first_menu, install, media_of
from ivr.flow.loader import load_default_flow, load_flow
from ivr.prompts.library import PromptLibrary

CONF = Path(__file__).resolve().parents[2] / "asterisk-conf" / "extensions.conf"


def test_first_menu_of_the_shipped_flow() -> None:
    """The default path (calendar default, no announcement) reaches the main menu after
    the welcome; key 1 leads to the registration guidance and its small menu."""
    menu = first_menu(load_default_flow())
    assert menu.before == ("welcome",) and menu.menu == ("main_menu",)
    assert menu.choice == ("guide_registration", "option_menu")
    assert (menu.pause, menu.timeout) == (0.5, 5.0)


def test_a_flow_without_a_menu_is_refused() -> None:
    """A flow whose default path ends before any menu cannot be benched natively."""
    flow = load_flow(
        "version: 1\nname: t\nstart: bye\nprompts:\n  bye: {text: さようなら。}\n"
        "nodes:\n  bye: {type: hangup, prompt: bye}\n"
    )
    with pytest.raises(NoMenu):
        first_menu(flow)


def test_dialplan_plays_the_same_files(tmp_path: Path) -> None:
    """The generated context plays the controller's cached files for the greeting and
    menu with Background(), waits the menu's timeout, and on 1 pauses, then plays the
    guidance; the rendered extensions.conf routes only the bench's number there."""
    flow = load_default_flow()
    library = PromptLibrary(tmp_path, "/snd")
    text = dialplan(first_menu(flow), media_of(library, flow))
    welcome = library.key(flow.prompts["welcome"].text)
    menu = library.key(flow.prompts["main_menu"].text)
    guide = library.key(flow.prompts["guide_registration"].text)
    assert f" same => n,Background(/snd/tts/{welcome}&/snd/tts/{menu})" in text
    assert " same => n,WaitExten(5)" in text and "exten => 1,1,Wait(0.5)" in text
    assert f"Playback(/snd/tts/{guide}&" in text
    conf = install(CONF.read_text(), text)
    _, _, rest = conf.partition("[from-trunk]\n")
    assert rest.startswith(f"exten => {NUMBER},1,Goto({CONTEXT},s,1)\n")
    assert conf.endswith(text) and conf.count(f"[{CONTEXT}]") == 1
    with pytest.raises(ValueError):
        install("[inbound]\n", text)


def test_capacity_takes_the_median_run() -> None:
    """A step passes when most of its runs have no failed call and p99 within 100 ms
    of the pause; one noisy run out of three does not decide it."""

    def run(p99: float, failed: int = 0) -> Run:
        return Run(10, failed, [p99] * 10, 0, [], 0.0, None, None, None)

    assert Level(10, [run(520), run(1300), run(530)]).ok(500)
    assert not Level(10, [run(520), run(1300), run(700)]).ok(500)
    assert not Level(10, [run(520, failed=1), run(530, failed=2), run(510)]).ok(500)
