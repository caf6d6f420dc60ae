"""SMS templates: the published set, how a template is filled in, and the rules that
protect citizens, checked whenever a set is published and again when it is built.

Every template must

- carry the city's fraud-warning line (``sms.fraud_warning``) word for word;
- link only to domains on the configured list (``*.go.jp``, ``*.lg.jp``, the city's
  own), and only over ``https://``;
- stay within 660 characters once its placeholders are filled in with the longest
  values they can plausibly take;
- use only the placeholders the system fills in (``{office_hours}``, ``{next_open}``,
  ``{next_open_sentence}``), with ``{{``/``}}`` for literal braces.

Messages are in Japanese: staff read them next to the field they typed in.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ivr.calendar.speech import NO_OPENING_IN_SERVICE
from ivr.config import SmsSettings
from ivr.flow.model import is_name
from ivr.sms.text import MAX_CHARS, parts, units

VARIABLES = ("office_hours", "next_open", "next_open_sentence")
"""Placeholders a template may use (values from the calendar in service)."""

LONGEST_VALUES: Mapping[str, str] = MappingProxyType(
    {
        # Two windows on weekdays and a Saturday morning: longer than any city's notice.
        "office_hours": "月曜日から金曜日の午前10時45分から午前11時45分まで、"
        "午後0時45分から午後5時15分まで、土曜日は午前10時45分から午前11時45分まで",
        "next_open": NO_OPENING_IN_SERVICE,  # longer than any date: 12月31日(水)午前10時45分
        "next_open_sentence": NO_OPENING_IN_SERVICE + "。",
    }
)
"""The longest plausible value of each placeholder, for the length rule."""

MAX_TEMPLATES = 100
MAX_SOURCE = 2000  # characters of one template as typed (before the length rule)

# A link: with a scheme, or a bare host name that phones would link anyway.
_URL = re.compile(
    r"(?i)(?:https?://[^\s<>\"'（）「」『』【】、。，．]+"
    r"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}(?:/[^\s<>\"'「」、。]*)?)"
)


class TemplateError(Exception):
    """A template set that cannot be read (not the rules: see :func:`check`)."""


@dataclass(frozen=True)
class Issue:
    """One broken rule: the template it is about and a message for staff."""

    template: str
    message: str


@dataclass(frozen=True)
class Rules:
    fraud_warning: str
    allowed_domains: tuple[str, ...]
    max_chars: int = MAX_CHARS

    @classmethod
    def from_settings(cls, s: SmsSettings) -> Rules:
        return cls(s.fraud_warning.strip(), tuple(d.strip().lower() for d in s.allowed_domains))

    def allows_host(self, host: str) -> bool:
        return domain_allowed(host, self.allowed_domains)


@dataclass(frozen=True)
class TemplateSet:
    """Template name → text. One published version holds every template."""

    templates: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"templates": dict(sorted(self.templates.items()))}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> TemplateSet:
        if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
            raise TemplateError('expected {"templates": {name: text}}')
        found: dict[str, str] = {}
        for name, text in data["templates"].items():
            if not isinstance(name, str) or not isinstance(text, str):
                raise TemplateError("template names and texts must be strings")
            found[name] = text
        return cls(MappingProxyType(found))

    @classmethod
    def from_json(cls, text: str) -> TemplateSet:
        try:
            return cls.from_dict(json.loads(text))
        except ValueError as e:
            raise TemplateError(f"not JSON: {e}") from e

    def with_template(self, name: str, text: str) -> TemplateSet:
        return TemplateSet(MappingProxyType({**self.templates, name: text}))


def domain_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """``*.go.jp`` allows every host under go.jp (``www.mhlw.go.jp``); a plain name
    allows that host only."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        p = pattern.lower().rstrip(".")
        if p.startswith("*."):
            if host.endswith(p[1:]) and len(host) > len(p) - 1:
                return True
        elif host == p:
            return True
    return False


def links(text: str) -> list[str]:
    """Every link-like piece of ``text`` (with a scheme, or a bare host name)."""
    return [m.group(0).rstrip(".,;:!?)") for m in _URL.finditer(text)]


def placeholders(text: str) -> tuple[str, ...]:
    """Placeholder names in ``text``; ``ValueError`` for unbalanced braces."""
    return tuple(n for _, n, _, _ in string.Formatter().parse(text) if n is not None)


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its placeholders filled in; ``KeyError`` names a missing value."""
    return text.format_map(dict(values))


def check_template(name: str, text: str, rules: Rules) -> list[Issue]:
    """Every rule ``text`` breaks, as messages for staff (empty: it may be published)."""
    out: list[Issue] = []

    def bad(message: str) -> None:
        out.append(Issue(name, message))

    if not is_name(name):
        bad(
            f"テンプレート名「{name}」は使えません。"
            "半角英数字と「_」で、数字以外から始めてください。"
        )
    if not text.strip():
        bad("本文を入力してください。")
        return out
    if len(text) > MAX_SOURCE:
        bad(f"本文が長すぎます（{len(text)}文字）。")
        return out
    try:
        names = placeholders(text)
    except ValueError:
        bad(
            "波かっこ「{」「}」の対応が正しくありません。"
            "文字として書くときは「{{」「}}」としてください。"
        )
        return out
    unknown = [n for n in dict.fromkeys(names) if n not in VARIABLES]
    for n in unknown:
        usable = "、".join(f"{{{v}}}" for v in VARIABLES)
        bad(f"差し込み項目「{{{n}}}」は使えません。使えるのは {usable} です。")
    if rules.fraud_warning not in text:
        bad(
            f"注意書き「{rules.fraud_warning}」が入っていません。"
            "すべてのテンプレートに、この一文をそのまま入れてください。"
        )
    allowed = "、".join(rules.allowed_domains) or "（なし）"
    for link in links(text):
        if "://" in link and not link.lower().startswith("https://"):
            bad(f"リンク「{link}」は https:// で始まるものにしてください。")
            continue
        host = urlsplit(link if "://" in link else f"https://{link}").hostname or ""
        if not rules.allows_host(host):
            bad(
                f"リンク先「{host or link}」は許可されていないドメインです。"
                f"許可されているのは {allowed} です。"
            )
    if not unknown:
        longest = render(text, LONGEST_VALUES)
        length = units(longest)
        if length > rules.max_chars:
            bad(
                f"本文が長すぎます。差し込み項目が最も長い場合に{length}文字になり、"
                f"上限の{rules.max_chars}文字を超えます。"
            )
    return out


def check(templates: TemplateSet, rules: Rules) -> list[Issue]:
    """Every problem of a whole set."""
    out: list[Issue] = []
    if len(templates.templates) > MAX_TEMPLATES:
        out.append(Issue("", f"テンプレートは{MAX_TEMPLATES}件までです。"))
    for name, text in templates.templates.items():
        out.extend(check_template(name, text, rules))
    return out


def measure(text: str) -> tuple[int, int]:
    """(characters, parts) of a text as it will be sent."""
    return units(text), parts(text)
