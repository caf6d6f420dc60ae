"""Transfer targets as a model: the rules a set must keep (Japanese for staff, English
for the configuration), the configuration's targets, and flows naming targets that
do not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.config import ConfigError, load_settings
from ivr.flow.loader import load_default_flow
from ivr.transfer.model import Target, TargetsError, TargetSet, check, unknown_targets
from ivr.transfer.store import configured


def test_a_good_set_passes_and_round_trips() -> None:
    """A valid set has no issues and reads back identically from its JSON."""
    targets = TargetSet(
        (
            Target("kokuho", "0312345678", "trunk", 2, 30, "国保課"),
            Target("nenkin", "0312340000", "trunk", 1, 20),
        )
    )
    assert check(targets, ("trunk",)) == []
    assert TargetSet.from_json(targets.to_json()) == targets
    assert targets.get("kokuho") == targets.targets[0] and targets.get("x") is None
    assert targets.names == {"kokuho", "nenkin"}


@pytest.mark.parametrize(
    ("target", "field", "japanese"),
    [
        (Target("0kokuho", "0312345678"), "name", "半角英数字"),
        (Target("kokuho", "03-1234-5678"), "number", "半角数字だけ"),
        (Target("kokuho", "0312345678", "evil"), "endpoint", "trunk"),
        (Target("kokuho", "0312345678", "Trunk"), "endpoint", "trunk"),
        (Target("kokuho", "0312345678", max_calls=0), "max_calls", "同時転送数"),
        (Target("kokuho", "0312345678", max_calls=51), "max_calls", "同時転送数"),
        (Target("kokuho", "0312345678", ring_seconds=4), "ring_seconds", "呼び出し時間"),
        (Target("kokuho", "0312345678", ring_seconds=121), "ring_seconds", "呼び出し時間"),
        (Target("kokuho", "0312345678", label="国保\n課"), "label", "1行"),
    ],
)
def test_each_rule_names_its_field(target: Target, field: str, japanese: str) -> None:
    """Every broken rule names the target and field, in Japanese and in English."""
    (issue,) = check(TargetSet((target,)), ("trunk",))
    assert (issue.target, issue.field) == (target.name, field)
    assert japanese in issue.message and issue.detail.isascii()


def test_duplicate_names_and_unreadable_sets_are_refused() -> None:
    """Two targets of one name are refused; a body that is not a set cannot be read."""
    twice = TargetSet((Target("kokuho", "0312345678"), Target("kokuho", "0312340000")))
    assert [i.field for i in check(twice, ("trunk",))] == ["name"]
    for bad in ("[]", '{"targets": 1}', "{", '{"targets": [{"number": "1"}]}'):
        with pytest.raises(TargetsError):
            TargetSet.from_json(bad)


def test_configured_targets_are_checked_at_start(tmp_path: Path) -> None:
    """transfer.targets seeds the set; a bad one stops start-up naming it, and an
    unquoted number (YAML would read 0312345670 as octal) is refused."""
    good = tmp_path / "good.yaml"
    good.write_text(
        'transfer:\n  targets:\n    - {name: kokuho, label: 国保課, number: "0312345678"}\n',
        encoding="utf-8",
    )
    settings = load_settings(good, env={})
    assert configured(settings.transfer) == TargetSet(
        (Target("kokuho", "0312345678", label="国保課"),)
    )
    cases = {
        "    - {name: kokuho, number: 0312345670}\n": (
            "transfer.targets[0].number: write it in quotes"
        ),
        '    - {name: kokuho, number: "0312345678"}\n    - {name: b, number: "1"}\n': (
            "transfer.targets[1].number: must be 3-15 digits"
        ),
        '    - {name: kokuho, number: "0312345678", endpoint: other}\n': (
            "transfer.targets[0].endpoint: must be one of transfer.endpoints"
        ),
        "    - {name: kokuho}\n": "transfer.targets[0].number: required",
    }
    for body, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text("transfer:\n  targets:\n" + body, encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_settings(path, env={})
    path = tmp_path / "cid.yaml"
    path.write_text("transfer:\n  caller_id: staff\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape("transfer.caller_id")):
        load_settings(path, env={})


def test_a_flow_naming_an_unknown_target_is_reported_with_node_and_line() -> None:
    """The shipped flow names kokuho: unknown among other targets, it is reported at the
    transfer node's line; among none, the message says none are set up."""
    flow = load_default_flow()
    assert unknown_targets(flow, {"kokuho"}) == []
    (issue,) = unknown_targets(flow, {"nenkin"})
    assert (issue.code, issue.node) == ("unknown_target", "transfer_staff")
    assert issue.line == flow.nodes["transfer_staff"].line and issue.line > 0
    assert "'kokuho'" in issue.message and "nenkin" in issue.message
    (empty,) = unknown_targets(flow, ())
    assert "none are set up" in empty.message
