"""The target editor's form: what was typed, read back into a :class:`Target`, with a
Japanese message beside each field that is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.transfer.model import DEFAULT_ENDPOINT, Issue, Target

from .. import forms

LABELS = {
    "name": "名前（フローで使う名前）",
    "label": "表示名",
    "number": "電話番号",
    "endpoint": "発信に使う回線",
    "max_calls": "同時転送数の上限",
    "ring_seconds": "呼び出し時間（秒）",
}


@dataclass
class TargetForm:
    name: str = ""
    label: str = ""
    number: str = ""
    endpoint: str = DEFAULT_ENDPOINT
    max_calls: str = "2"
    ring_seconds: str = "30"
    base_version: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, target: Target, base_version: int | None) -> TargetForm:
        return cls(
            target.name,
            target.label,
            target.number,
            target.endpoint,
            str(target.max_calls),
            str(target.ring_seconds),
            base_version,
        )

    @classmethod
    def read(cls, data: forms.Form, name: str | None = None) -> TargetForm:
        raw = forms.text(data, "base_version", 20)
        return cls(
            name if name is not None else forms.text(data, "name", 60),
            forms.text(data, "label", 100),
            forms.text(data, "number", 40).replace("-", "").replace(" ", ""),
            forms.text(data, "endpoint", 60),
            forms.text(data, "max_calls", 10),
            forms.text(data, "ring_seconds", 10),
            int(raw) if raw.isdigit() else None,
        )

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def target(self) -> Target | None:
        """The target typed in, or None (with ``errors``) when a number is not a number."""
        numbers: dict[str, int] = {}
        for name in ("max_calls", "ring_seconds"):
            value = getattr(self, name)
            if value.isdigit() and value.isascii():
                numbers[name] = int(value)
            else:
                self.add(name, "半角の数字で入力してください。")
        if self.errors:
            return None
        return Target(
            self.name,
            self.number,
            self.endpoint,
            numbers["max_calls"],
            numbers["ring_seconds"],
            self.label,
        )

    def place(self, issues: list[Issue]) -> None:
        for issue in issues:
            if issue.target == self.name and issue.field in LABELS:
                self.add(issue.field, issue.message)
            else:
                self.add("", issue.message)
