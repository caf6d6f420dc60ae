"""Loading and validating flows: every problem is reported with its node and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flow.errors import FlowError, FlowIssue, FlowSyntaxError, FlowValidationError
from ivr.flow.loader import load_flow, load_flow_file
from ivr.flow.model import NODE_KINDS, CollectNode, MenuNode, PlayNode, PromptSpec, Settings

BASE = """\
version: 1
name: base
start: menu
prompts:
  menu: {text: メニュー}
  invalid: {text: 無効です}
  timeout: {text: 時間切れです}
  info: {text: 案内}
  bye: {text: さようなら}
nodes:
  menu:
    type: menu
    prompt: menu
    choices:
      "1": info
      "9": bye
    on_exhausted: bye
  info:
    type: play
    prompt: info
    next: menu
  bye:
    type: hangup
    prompt: bye
"""


def line_of(text: str, marker: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing ``marker``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if marker in line]
    return hits[nth - 1]


def problems(text: str) -> list[FlowIssue]:
    """The issues a flow text is refused with."""
    with pytest.raises(FlowError) as info:
        load_flow(text, "test.yaml")
    assert info.value.errors, "FlowError without issues"
    return info.value.errors


def only(text: str) -> tuple[str, str | None, int | None]:
    """The single issue of ``text`` as (code, node, line)."""
    found = problems(text)
    assert len(found) == 1, [str(i) for i in found]
    issue = found[0]
    return issue.code, issue.node, issue.line


def edit(old: str, new: str, text: str = BASE) -> str:
    """``text`` with ``old`` replaced once (which must be present)."""
    assert old in text, old
    return text.replace(old, new, 1)


def on_menu(extra: str) -> tuple[str, str]:
    """An edit adding ``extra`` as a key of the menu node."""
    return "    on_exhausted: bye", f"    on_exhausted: bye\n    {extra}"


def on_play(extra: str) -> tuple[str, str]:
    """An edit adding ``extra`` as a key of the info play node."""
    return "    next: menu", f"    next: menu\n    {extra}"


def test_base_flow_loads() -> None:
    """The reference flow of these tests is valid and loads into model objects."""
    flow = load_flow(BASE)
    menu = flow.nodes["menu"]
    assert isinstance(menu, MenuNode)
    assert menu.choices == {"1": "info", "9": "bye"}
    assert menu.reprompts == ("menu",)
    assert menu.timeout == 5.0
    assert menu.repeat_key == "*"
    assert menu.invalid_prompt == "invalid"
    assert menu.line == line_of(BASE, "  menu:", 2)
    assert isinstance(flow.nodes["info"], PlayNode)
    assert flow.prompts["menu"] == PromptSpec("メニュー", None, line_of(BASE, "  menu: {"))


def test_node_settings_default_from_flow_settings() -> None:
    """Menu and collect values not set on the node come from settings."""
    text = edit("start: menu\n", "start: menu\nsettings: {menu_timeout: 8, max_retries: 1}\n")
    menu = load_flow(text).nodes["menu"]
    assert isinstance(menu, MenuNode)
    assert (menu.timeout, menu.max_retries) == (8.0, 1)


@pytest.mark.parametrize(
    ("old", "new", "code", "node", "marker"),
    [
        # unknown keys, at every level
        ("name: base", "name: base\ncolour: blue", "unknown_key", None, "colour"),
        (*on_play("nxt: bye"), "unknown_key", "info", "nxt"),
        ("    choices:", "    choises: {}\n    choices:", "unknown_key", "menu", "choises"),
        ("  info: {text: 案内}", "  info: {text: 案内, voice: x}", "unknown_key", None, "voice"),
        ("start: menu", "start: menu\nsettings: {pause: 1}", "unknown_key", None, "settings"),
        # missing targets and prompts
        ("    next: menu", "    next: nowhere", "missing_target", "info", "nowhere"),
        ('      "9": bye', '      "9": byebye', "missing_target", "menu", "byebye"),
        ("    prompt: info", "    prompt: infos", "missing_prompt", "info", "infos"),
        ("    prompt: info", "    prompt: [info, more]", "missing_prompt", "info", "more"),
        ("start: menu", "start: entrance", "missing_target", None, "entrance"),
        # prompt text
        ("  info: {text: 案内}", "  info: {text: ''}", "missing_prompt", None, "info: {text"),
        ("  info: {text: 案内}", "  info: {text: '   '}", "missing_prompt", None, "info: {text"),
        ("  info: {text: 案内}", "  info: {text: '{1}'}", "bad_placeholder", None, "info: {"),
        ("  info: {text: 案内}", "  info: {text: '{a.b}'}", "bad_placeholder", None, "info: {"),
        ("  info: {text: 案内}", "  info: {text: '{a!r}'}", "bad_placeholder", None, "info: {"),
        ("  info: {text: 案内}", "  info: {text: '案内{'}", "bad_placeholder", None, "info: {"),
        ("  info: {text: 案内}", "  info: {text: 案内, file: ../x.wav}", "bad_name", None, "info:"),
        ("  info: {text: 案内}", "  info: 案内", "wrong_type", None, "info: 案内"),
        # digits
        ('      "1": info', '      "A": info', "bad_digit", "menu", '"A"'),
        ('      "1": info', '      "12": info', "bad_digit", "menu", '"12"'),
        ('      "1": info', "      10: info", "bad_digit", "menu", "10:"),
        ('      "9": bye', '      "1": bye', "duplicate_digit", "menu", '"1": bye'),
        ('      "9": bye', "      1: bye", "duplicate_digit", "menu", "1: bye"),
        ('      "9": bye', '      "*": bye', "duplicate_digit", "menu", '"*"'),
        (*on_menu("repeat_key: A"), "bad_digit", "menu", "repeat_key"),
        (*on_menu("repeat_key: #"), "bad_digit", "menu", "repeat_key"),
        # types and ranges
        (*on_menu("timeout: five"), "wrong_type", "menu", "    timeout"),
        (*on_menu("timeout: 0"), "out_of_range", "menu", "    timeout"),
        (*on_menu("timeout: .inf"), "out_of_range", "menu", "    timeout"),
        (*on_menu("timeout: .nan"), "out_of_range", "menu", "    timeout"),
        (*on_menu("max_retries: 99"), "out_of_range", "menu", "    max_retries"),
        (*on_menu("max_retries: 1.5"), "wrong_type", "menu", "    max_retries"),
        (*on_menu("max_retries: true"), "wrong_type", "menu", "    max_retries"),
        (*on_play("interruptible: 'no'"), "wrong_type", "info", "interruptible"),
        (
            "start: menu",
            "start: menu\nsettings: {pause_after_input: -1}",
            "out_of_range",
            None,
            "settings",
        ),
        ("    next: menu", "    next: [menu]", "wrong_type", "info", "next: ["),
        (
            "  info:\n    type: play",
            "  info:\n    type: show",
            "unknown_type",
            "info",
            "type: show",
        ),
        ("  info:\n    type: play", "  info:\n    type: 3", "wrong_type", "info", "type: 3"),
        ("    on_exhausted: bye\n", "", "missing_key", "menu", "  menu:\n"),
        ("version: 1", "version: 2", "bad_value", None, "version"),
        ("version: 1", "version: '1'", "bad_value", None, "version"),
        # names
        (
            "  bye:\n",
            "  info-page: {type: goto, next: bye}\n  bye:\n",
            "bad_name",
            "info-page",
            "info-page",
        ),
        ("  bye: {text", "  '1bye': {text: x}\n  bye: {text", "bad_name", None, "1bye"),
        ("    prompt: bye\n", "    prompt: bye\n    outcome: a b\n", "bad_name", "bye", "outcome"),
        # duplicates PyYAML would silently accept
        (
            "    prompt: info\n",
            "    prompt: info\n    prompt: timeout\n",
            "duplicate_key",
            "info",
            "prompt: timeout",
        ),
        (
            "  bye: {text: さようなら}",
            "  bye: {text: x}\n  bye: {text: y}",
            "duplicate_prompt",
            None,
            "{text: y}",
        ),
        (
            "  bye:\n    type: hangup",
            "  info:\n    type: hangup\n  bye:\n    type: hangup",
            "duplicate_node",
            "info",
            "  info:\n",
        ),
    ],
)
def test_each_problem_names_node_and_line(
    old: str, new: str, code: str, node: str | None, marker: str
) -> None:
    """Each kind of mistake gives one issue with its stable code, node and line."""
    text = edit(old, new)
    if marker == "  menu:\n":  # the menu node, not the menu prompt
        expected_line = line_of(text, "  menu:", 2)
    elif marker == "  info:\n":  # the second definition of the node
        expected_line = line_of(text, "  info:", 3)
    else:
        expected_line = line_of(text, marker)
    found = problems(text)
    assert [(i.code, i.node) for i in found] == [(code, node)], [str(i) for i in found]
    assert found[0].line == expected_line, str(found[0])


def test_target_must_be_a_name_not_a_number() -> None:
    """A transfer target that looks like a phone number is refused (names only)."""
    text = edit(
        "  bye:\n    type: hangup",
        "  staff: {type: transfer, target: '0312345678', fallback: bye}\n  bye:\n    type: hangup",
    )
    text = edit('"9": bye', '"9": bye\n      "0": staff', text)
    assert only(text) == ("bad_name", "staff", line_of(text, "target:"))


def test_sms_template_must_be_a_name() -> None:
    """An SMS template is a name, never free text."""
    text = edit(
        "  bye:\n    type: hangup",
        "  sms: {type: sms, template: 'sms-1', next: bye, on_failure: bye}\n"
        "  bye:\n    type: hangup",
    )
    text = edit('"9": bye', '"9": bye\n      "2": sms', text)
    assert only(text) == ("bad_name", "sms", line_of(text, "sms-1"))


def test_unreachable_node() -> None:
    """A node that no path from start leads to is reported at its line."""
    text = BASE + "  orphan:\n    type: goto\n    next: bye\n"
    assert only(text) == ("unreachable", "orphan", line_of(text, "orphan:"))


def test_cycle_with_no_way_out() -> None:
    """Nodes from which no hangup or transfer can be reached are each reported."""
    text = edit('      "9": bye', '      "9": bye\n      "2": loop_a')
    text += (
        "  loop_a:\n    type: play\n    prompt: info\n    next: loop_b\n"
        "  loop_b:\n    type: play\n    prompt: info\n    next: loop_a\n"
    )
    found = problems(text)
    assert {(i.code, i.node, i.line) for i in found} == {
        ("no_way_out", "loop_a", line_of(text, "loop_a:")),
        ("no_way_out", "loop_b", line_of(text, "loop_b:")),
    }


def test_silent_loop_is_refused() -> None:
    """A menu whose on_exhausted leads back to itself would hold a silent caller forever."""
    text = edit("    on_exhausted: bye", "    on_exhausted: info")
    code, node, line = only(text)
    assert (code, node) == ("silent_loop", "menu")
    assert line == line_of(text, "  menu:", 2)


def test_goto_loop_is_refused() -> None:
    """goto/branch nodes that lead to each other without a prompt are refused."""
    text = edit('      "9": bye', '      "9": bye\n      "2": ring')
    text += (
        "  ring:\n    type: branch\n    by: calendar\n    cases: {open: bye}\n    default: round\n"
        "  round:\n    type: goto\n    next: ring\n"
    )
    code, node, _ = only(text)
    assert (code, node) == ("silent_loop", "ring")


def test_branch_problems() -> None:
    """A branch needs a known 'by', known case values, and a default unless all are covered."""
    branch = (
        "  route:\n    type: branch\n    by: caller_type\n"
        "    cases: {mobile: bye, landline: info}\n"
    )
    text = edit('      "9": bye', '      "9": bye\n      "2": route') + branch
    assert only(text) == ("missing_key", "route", line_of(text, "  route:"))
    covered = text.replace("landline: info}", "landline: info, withheld: bye}")
    assert load_flow(covered).nodes["route"].kind == "branch"
    wrong_value = text.replace("landline: info}", "satellite: info}\n    default: bye")
    assert only(wrong_value) == ("bad_value", "route", line_of(wrong_value, "satellite"))
    wrong_by = text.replace("by: caller_type", "by: weather").replace(
        "landline: info}", "landline: info}\n    default: bye"
    )
    assert only(wrong_by) == ("bad_value", "route", line_of(wrong_by, "by: weather"))


COLLECT = """\
  number:
    type: collect
    prompt: info
    min_digits: 11
    max_digits: 11
    prefixes: ["070", "080", "090"]
    store: mobile
    confirm: {prompt: menu}
    next: sms
    on_exhausted: bye
  sms: {type: sms, template: sms_info, to: [mobile, caller], next: bye, on_failure: bye}
"""


def with_collect(old: str = "", new: str = "") -> str:
    """BASE with a collect node and an SMS node reached by key 2."""
    text = edit('      "9": bye', '      "9": bye\n      "2": number') + COLLECT
    return edit(old, new, text) if old else text


def test_collect_loads() -> None:
    """A collect node with prefixes, store and confirm loads with its defaults."""
    node = load_flow(with_collect()).nodes["number"]
    assert isinstance(node, CollectNode)
    assert node.prefixes == ("070", "080", "090")
    assert node.terminator == "#"
    assert node.confirm is not None
    assert (node.confirm.yes_key, node.confirm.no_key) == ("1", "2")
    assert node.timeout == 10.0


@pytest.mark.parametrize(
    ("old", "new", "code", "marker"),
    [
        ('["070", "080", "090"]', "[070, 080]", "wrong_type", "prefixes"),
        ("min_digits: 11", "min_digits: 12", "out_of_range", "min_digits"),
        ("max_digits: 11", "max_digits: 40", "out_of_range", "max_digits"),
        ("store: mobile", "store: mobile\n    terminator: #", "bad_digit", "terminator"),
        ("store: mobile", "store: mobile\n    terminator: '5'", "bad_digit", "terminator"),
        ("store: mobile", "store: mobile\n    repeat_key: '0'", "bad_digit", "repeat_key"),
        ("store: mobile", "store: mobile\n    repeat_key: '#'", "duplicate_digit", "repeat_key"),
        (
            "confirm: {prompt: menu}",
            "confirm: {prompt: menu, yes_key: '2'}",
            "duplicate_digit",
            "confirm",
        ),
        (
            "confirm: {prompt: menu}",
            "confirm: {prompt: menu, yes_key: '*'}",
            "duplicate_digit",
            "confirm",
        ),
        ("confirm: {prompt: menu}", "confirm: {prompt: menu, say: x}", "unknown_key", "confirm"),
        ("confirm: {prompt: menu}", "confirm: {}", "missing_key", "confirm"),
        ("to: [mobile, caller]", "to: [phone, caller]", "missing_target", "  sms:"),
    ],
)
def test_collect_problems(old: str, new: str, code: str, marker: str) -> None:
    """Collect nodes check prefixes, digit counts, keys, confirm and stored names."""
    text = with_collect(old, new)
    found = problems(text)
    assert [i.code for i in found] == [code], [str(i) for i in found]
    assert found[0].node in {"number", "sms"}
    assert found[0].line == line_of(text, marker)


def test_settings_default_prompt_must_exist() -> None:
    """A menu relying on the settings' invalid prompt needs that prompt to exist."""
    text = edit("  invalid: {text: 無効です}\n", "")
    assert only(text) == ("missing_prompt", "menu", line_of(text, "  menu:", 2))
    text_off = text.replace("start: menu", "start: menu\nsettings: {invalid_prompt: null}")
    assert load_flow(text_off).nodes["menu"].invalid_prompt is None  # type: ignore[union-attr]


def test_prompt_with_file_needs_no_text() -> None:
    """A prompt with an uploaded file may have no text."""
    text = edit("  info: {text: 案内}", "  info: {file: info_v2.wav}")
    assert load_flow(text).prompts["info"] == PromptSpec(
        "", "info_v2.wav", line_of(text, "info_v2")
    )


def test_all_problems_reported_at_once() -> None:
    """Several mistakes in one text are all reported, sorted by line."""
    text = edit("    next: menu", "    next: nowhere\n    colour: red")
    text = edit('      "1": info', '      "X": info', text)
    text = edit("name: base", "name: base\nextra: 1", text)
    found = problems(text)
    assert [i.code for i in found] == ["unknown_key", "bad_digit", "missing_target", "unknown_key"]
    assert [i.line for i in found] == sorted(i.line or 0 for i in found)


def test_error_message_names_source_node_and_line() -> None:
    """The FlowError text names the source, the line and the node of each issue."""
    text = edit("    next: menu", "    next: nowhere")
    with pytest.raises(FlowValidationError) as info:
        load_flow(text, "city.yaml")
    message = str(info.value)
    assert message.startswith("city.yaml: 1 problem")
    assert f"line {line_of(text, 'nowhere')}, node 'info'" in message
    assert info.value.id == "flow_invalid"


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("", "empty", None),
        ("# only a comment\n", "empty", None),
        ("version: 1\nnodes: [\n", "yaml_syntax", 3),
        ("a: b\n  c: d\n", "yaml_syntax", 2),
        ("a: 1\n---\nb: 2\n", "yaml_syntax", 2),
        ("a: *nowhere\n", "yaml_syntax", 1),
        ("\x00", "yaml_syntax", None),
        ("[" * 5000, "too_deep", None),
    ],
)
def test_unreadable_yaml(text: str, code: str, line: int | None) -> None:
    """Text that is not one YAML document raises FlowSyntaxError with the line."""
    with pytest.raises(FlowSyntaxError) as info:
        load_flow(text)
    assert [(i.code, i.line) for i in info.value.errors] == [(code, line)]
    assert info.value.id == "flow_syntax"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("- a\n- b\n", "wrong_type"),
        ("a: &x [*x]\n", "recursive_alias"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "bad_key"),
        ("? [a, b]\n: c\n", "bad_key"),
        ("a: !!binary aGVsbG8=\n", "yaml_tag"),
        ("a: !custom x\n", "yaml_tag"),
    ],
)
def test_odd_yaml_is_reported(text: str, code: str) -> None:
    """Lists at the top, recursive aliases, merge keys, complex keys and tags are reported."""
    found = problems(text)
    assert code in [i.code for i in found]


def test_alias_bomb_is_bounded() -> None:
    """A 'billion laughs' alias bomb is refused quickly instead of expanding."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    found = problems("\n".join(lines) + "\n")
    assert "too_large" in [i.code for i in found]


def test_load_flow_file(tmp_path: Path) -> None:
    """A flow file loads; a missing or non-UTF-8 file raises FlowSyntaxError."""
    path = tmp_path / "flow.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_flow_file(path).source == str(path)
    with pytest.raises(FlowSyntaxError):
        load_flow_file(tmp_path / "missing.yaml")
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(FlowSyntaxError):
        load_flow_file(path)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "flows.md"


def test_docs_example_loads() -> None:
    """The complete example in docs/flows.md is a valid flow."""
    text = DOCS.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert len(load_flow(example, "docs/flows.md").nodes) > 10


def test_docs_list_every_setting_and_node_kind() -> None:
    """docs/flows.md documents every setting and every node kind."""
    text = DOCS.read_text(encoding="utf-8")
    for name in Settings.__dataclass_fields__:
        assert f"| `{name}` |" in text, name
    for kind in NODE_KINDS:
        assert f"### `{kind}`" in text, kind
