"""Pure SMS decisions: which numbers take an SMS, how many parts a text takes, and the
template rules that protect citizens (with clear Japanese messages)."""

from __future__ import annotations

import pytest

from ivr.config import SmsSettings
from ivr.sms.defaults import NAMES, default_templates
from ivr.sms.numbers import caller_type, classify, mobile_national
from ivr.sms.templates import LONGEST_VALUES, Rules, TemplateSet, check, check_template, render
from ivr.sms.text import parts, units

RULES = Rules.from_settings(SmsSettings())
WARNING = SmsSettings().fraud_warning


@pytest.mark.parametrize(
    ("number", "kind", "national"),
    [
        ("09012345678", "mobile", "09012345678"),
        ("070-1234-5678", "mobile", "07012345678"),
        ("08012345678", "mobile", "08012345678"),
        ("+819012345678", "mobile", "09012345678"),
        ("+81 80 1234 5678", "mobile", "08012345678"),
        ("819012345678", "mobile", "09012345678"),  # as some trunks send it, without "+"
        ("0312345678", "landline", ""),
        ("0120950178", "landline", ""),  # free dial
        ("05012345678", "landline", ""),  # IP phone
        ("+12025550123", "landline", ""),  # a valid foreign number
        ("", "withheld", ""),
        ("anonymous", "withheld", ""),
        ("Unavailable", "withheld", ""),
        ("0901234567", "invalid", ""),  # one digit short
        ("abc", "invalid", ""),
        ("09012345678901234567890", "invalid", ""),
        ("++819012345678", "invalid", ""),
    ],
)
def test_number_classification(number: str, kind: str, national: str) -> None:
    """Japanese mobiles (also +81) are recognised and normalised to 11 digits; others are not."""
    found = classify(number)
    assert (found.kind, found.national) == (kind, national)
    assert mobile_national(number) == (national or None)


def test_caller_type_for_flows() -> None:
    """What a flow's branch sees: unreadable numbers are not mobiles."""
    assert [caller_type(n) for n in ("+819012345678", "0312345678", "", "x1")] == [
        "mobile",
        "landline",
        "withheld",
        "landline",
    ]


@pytest.mark.parametrize(
    ("length", "expected"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (660, 10)]
)
def test_parts_are_counted_as_ucs2(length: int, expected: int) -> None:
    """70 characters fit one part; once split, 67 each."""
    assert parts("あ" * length) == expected


def test_characters_outside_the_bmp_count_twice() -> None:
    """An emoji is two UTF-16 code units, as carriers count it."""
    assert units("😀") == 2 and parts("あ" * 69 + "😀") == 2


def test_shipped_templates_pass_the_rules_and_cover_the_default_flow() -> None:
    """Every name the default flow uses has a text that passes, official links included."""
    from ivr.flow.loader import load_default_flow
    from ivr.flow.model import SmsNode

    used = {n.template for n in load_default_flow().nodes.values() if isinstance(n, SmsNode)}
    shipped = default_templates(RULES)
    assert used <= set(shipped.templates) == set(NAMES)
    assert check(shipped, RULES) == []
    assert "https://faq.myna.go.jp/" in shipped.templates["sms_lost"]
    assert "0120-95-0178" in shipped.templates["sms_lost"]
    assert all(t.endswith(WARNING) for t in shipped.templates.values())


def test_shipped_templates_drop_links_the_city_does_not_allow() -> None:
    """With only the city's own domain allowed, the defaults keep no link and still pass."""
    rules = Rules("市が暗証番号をお聞きすることはありません。", ("www.city.example.lg.jp",))
    shipped = default_templates(rules)
    assert check(shipped, rules) == []
    assert not any("https://" in t for t in shipped.templates.values())


def _messages(text: str, rules: Rules = RULES) -> list[str]:
    return [i.message for i in check_template("sms_test", text, rules)]


def test_a_template_without_the_warning_is_refused() -> None:
    """The fraud-warning line must be there word for word."""
    (message,) = _messages("【○○市】ご案内です。")
    assert message.startswith(f"注意書き「{WARNING}」が入っていません。")


@pytest.mark.parametrize(
    ("link", "host"),
    [
        ("https://example.com/", "example.com"),
        ("https://www.mhlw.go.jp.evil.example/", "www.mhlw.go.jp.evil.example"),
        ("https://www.mhlw.go.jp@evil.example/x", "evil.example"),
        ("bit.ly/abc", "bit.ly"),
    ],
)
def test_links_outside_the_allowed_domains_are_refused(link: str, host: str) -> None:
    """Only hosts under the configured patterns; look-alikes and userinfo tricks are caught."""
    (message,) = _messages(f"詳しくは {link} へ。{WARNING}")
    assert message == (
        f"リンク先「{host}」は許可されていないドメインです。"
        "許可されているのは *.go.jp、*.lg.jp です。"
    )


def test_allowed_links_pass_and_plain_http_does_not() -> None:
    """https links under *.go.jp pass; http:// is refused even on an allowed domain."""
    assert _messages(f"https://www.mhlw.go.jp/stf/newpage_50657.html {WARNING}") == []
    assert _messages(f"https://city.example.lg.jp/ {WARNING}") == []
    (message,) = _messages(f"http://www.mhlw.go.jp/ {WARNING}")
    assert "https:// で始まるもの" in message


def test_too_long_after_rendering_with_the_longest_values() -> None:
    """660 characters is the limit once placeholders take their longest plausible values."""
    filler = "あ" * (660 - len(WARNING))
    assert _messages(filler + WARNING) == []
    (message,) = _messages(filler[:-10] + "{next_open}" + WARNING)
    longest = len(filler) - 10 + len(LONGEST_VALUES["next_open"]) + len(WARNING)
    assert message == (
        f"本文が長すぎます。差し込み項目が最も長い場合に{longest}文字になり、上限の660文字を超えます。"
    )


def test_placeholders_must_be_known_and_braces_balanced() -> None:
    """Only the calendar's values can be filled in; a stray brace is explained."""
    assert _messages("{caller}さん " + WARNING) == [
        "差し込み項目「{caller}」は使えません。使えるのは {office_hours}、{next_open}、"
        "{next_open_sentence} です。"
    ]
    assert "波かっこ" in _messages("{ " + WARNING)[0]
    assert _messages("{{括弧}} " + WARNING) == []
    assert render("{{a}} {office_hours}", {"office_hours": "平日"}) == "{a} 平日"


def test_empty_and_misnamed_templates() -> None:
    """An empty text and a name that is not an identifier are refused."""
    assert _messages("  ") == ["本文を入力してください。"]
    assert "テンプレート名" in check_template("1bad", "x " + WARNING, RULES)[0].message


def test_template_set_round_trips_through_json() -> None:
    """What is stored is what is read back."""
    shipped = default_templates(RULES)
    assert dict(TemplateSet.from_json(shipped.to_json()).templates) == dict(shipped.templates)
