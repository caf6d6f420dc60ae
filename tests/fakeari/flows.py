"""The flows the shell tests run (``running_shell(flow, ...)``), built from one shape:
``hello`` (not interruptible) → a ``menu`` → ... → ``bye``, with short timeouts and
one retry. Each prompt names a ``file:`` of its own name, so it plays as
``sound:/snd/uploads/<name>`` (:data:`tests.fakeari.shell.ASTERISK_SOUNDS`).
"""

from __future__ import annotations

from collections.abc import Mapping

HELLO = "お電話ありがとうございます。"
BYE = "お電話ありがとうございました。"
# The menu's own prompts for a wrong key and for silence (a flow may do without).
RETRY_PROMPTS = {
    "invalid": "その番号はご利用いただけません。",
    "timeout": "入力が確認できませんでした。",
}


def shell_flow(
    name: str,
    prompts: Mapping[str, str],
    nodes: str,
    *,
    menu_timeout: int = 5,
    settings: str = "",
) -> str:
    """Flow YAML: ``prompts`` (id → text) between ``hello`` and ``bye``; ``nodes`` is
    the YAML of the nodes, indented by two; ``settings`` more settings lines."""
    spoken = {
        "hello": "お電話ありがとうございます。",
        **prompts,
        "bye": "お電話ありがとうございました。",
    }
    lines = [
        "version: 1",
        f"name: {name}",
        "start: hello",
        "settings:",
        "  pause_after_input: 0",
        f"  menu_timeout: {menu_timeout}",
        "  max_retries: 1",
        *settings.splitlines(),
        "prompts:",
        *(f"  {pid}: {{text: {text}, file: {pid}.wav}}" for pid, text in spoken.items()),
        "nodes:",
        nodes.rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"


def menu_flow(
    name: str,
    *,
    menu_timeout: int = 5,
    menu_text: str = "案内は1を、終了は9を押してください。",
    choices: str = '{"1": info, "9": bye}',
    retry_prompts: bool = True,
    outcome: str | None = "completed",
    settings: str = "",
) -> str:
    """hello → menu (``choices``) → info → bye: the call the lifecycle tests follow."""
    bye = (
        f"{{type: hangup, prompt: bye, outcome: {outcome}}}"
        if outcome
        else ("{type: hangup, prompt: bye}")
    )
    return shell_flow(
        name,
        {
            "menu": menu_text,
            "info": "ご案内します。",
            **(RETRY_PROMPTS if retry_prompts else {}),
        },
        f"""\
  hello: {{type: play, prompt: hello, next: menu, interruptible: false}}
  menu:
    type: menu
    prompt: menu
    choices: {choices}
    on_exhausted: bye
  info: {{type: play, prompt: info, next: bye}}
  bye: {bye}
""",
        menu_timeout=menu_timeout,
        settings=settings,
    )
