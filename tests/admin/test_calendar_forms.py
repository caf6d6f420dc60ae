"""The calendar pages' pure parts: editor fields ↔ calendar, messages placed on fields,
the month layout, and the preview's reading of its form."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from multidict import MultiDict, MultiDictProxy

from ivr.calendar.model import (
    Announcement,
    Calendar,
    DateClosure,
    DateOverride,
    ServicePeriod,
    Window,
)
from ivr.calendar.validate import validate
from ivr.flow.simulate import Note
from ivr.log import TOKYO
from ivr_admin.calendar import month, preview
from ivr_admin.calendar.fields import field_id, field_label, indexed_label
from ivr_admin.calendar.forms import CalendarForm
from ivr_admin.errors import BadRequest

NOW = datetime(2026, 6, 10, 10, 0, tzinfo=TOKYO)


def post(fields: dict[str, str]) -> CalendarForm:
    """The form as a browser posts ``fields``."""
    return CalendarForm.read(MultiDictProxy(MultiDict(fields)))


def default_fields(**changes: str) -> dict[str, str]:
    """The fields of the shipped calendar as the editor shows them, with changes."""
    fields = {"version": "", "national_holidays": "1"}
    for key in ("mon", "tue", "wed", "thu", "fri"):
        fields[f"weekly.{key}[0].start"] = "08:45"
        fields[f"weekly.{key}[0].end"] = "17:15"
    fields |= {
        "recurring_closures[0].label": "年末年始",
        "recurring_closures[0].start": "12-29",
        "recurring_closures[0].end": "01-03",
    }
    return fields | changes


def check(form: CalendarForm) -> list[tuple[str, str]]:
    return form.build().check(lambda cal: validate(cal, now=NOW, previous=Calendar()))


def test_a_calendar_survives_the_form_unchanged() -> None:
    """Every setting shown in the editor and posted back gives the same calendar."""
    cal = Calendar(
        weekly=Calendar().weekly,
        national_holidays=False,
        closures=(DateClosure("点検", date(2026, 7, 1), date(2026, 7, 2)),),
        overrides=(
            DateOverride(date(2026, 7, 3)),
            DateOverride(date(2026, 7, 4), (Window.of("10:00", "12:00"),), "短縮"),
        ),
        service=ServicePeriod(
            datetime(2025, 6, 23, tzinfo=TOKYO), datetime(2027, 3, 31, 17, 15, 30, tzinfo=TOKYO)
        ),
        announcements=(
            Announcement("a1", "停止", "本日は停止します。", datetime(2026, 7, 1, 9, tzinfo=TOKYO)),
        ),
    )
    shown = CalendarForm.of(cal, 7).with_spares()
    fields = {"version": "7"}
    for key, rows in shown.weekly.items():
        for i, w in enumerate(rows):
            fields |= {f"weekly.{key}[{i}].start": w.start, f"weekly.{key}[{i}].end": w.end}
    for i, r in enumerate(shown.recurring):
        fields |= {
            f"recurring_closures[{i}].label": r.label,
            f"recurring_closures[{i}].start": r.start,
            f"recurring_closures[{i}].end": r.end,
        }
    for i, r in enumerate(shown.closures):
        fields |= {f"closures[{i}].label": r.label, f"closures[{i}].start": r.start}
        fields[f"closures[{i}].end"] = r.end
    for i, o in enumerate(shown.overrides):
        fields |= {f"overrides[{i}].date": o.date, f"overrides[{i}].mode": o.mode}
        fields[f"overrides[{i}].label"] = o.label
        for j, w in enumerate(o.windows):
            fields[f"overrides[{i}].windows[{j}].start"] = w.start
            fields[f"overrides[{i}].windows[{j}].end"] = w.end
    fields |= {"service.start": shown.service_start, "service.end": shown.service_end}
    for i, a in enumerate(shown.announcements):
        for part in ("id", "label", "text", "start", "end"):
            fields[f"announcements[{i}].{part}"] = getattr(a, part)
    form = post(fields)
    built = form.build()
    assert built.problems == []
    assert form.version == 7
    assert built.calendar == cal


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("8:45", "08:45"), ("８：４５", "08:45"), ("0845", "08:45"), ("24:00", "24:00")],
)
def test_times_are_read_as_staff_type_them(typed: str, stored: str) -> None:
    """Half- and full-width times, with or without the colon, are read alike."""
    form = post(default_fields(**{"weekly.sat[0].start": typed, "weekly.sat[0].end": "24:00"}))
    assert form.weekly["sat"][0].start == stored


def test_dates_and_month_days_are_read_as_staff_type_them() -> None:
    """「12/29」, 「2026/7/1」 and 「2026/7/1 9:00」 are read as the calendar's forms."""
    form = post(
        default_fields(
            **{
                "recurring_closures[0].start": "12/29",
                "recurring_closures[0].end": "1月3日",
                "closures[0].label": "点検",
                "closures[0].start": "2026/7/1",
                "closures[0].end": "2026年7月2日",
                "service.start": "2026/7/1 9:00",
            }
        )
    )
    cal = form.build().calendar
    assert cal is not None
    assert str(cal.recurring_closures[0].start) == "12-29"
    assert str(cal.recurring_closures[0].end) == "01-03"
    assert cal.closures == (DateClosure("点検", date(2026, 7, 1), date(2026, 7, 2)),)
    assert cal.service.start == datetime(2026, 7, 1, 9, tzinfo=TOKYO)


def test_blank_and_deleted_rows_are_left_out_and_messages_keep_their_rows() -> None:
    """Blank rows are skipped; the validator's message on the calendar's second window
    lands on the form's third row, where it was typed."""
    form = post(
        default_fields(
            **{
                "weekly.mon[1].start": "",
                "weekly.mon[1].end": "",
                "weekly.mon[2].start": "12:00",
                "weekly.mon[2].end": "13:00",
                "closures[0].label": "消す",
                "closures[0].start": "2026-07-01",
                "closures[0].end": "2026-07-01",
                "closures[0].delete": "1",
            }
        )
    )
    built = form.build()
    assert built.calendar is not None
    assert built.calendar.closures == ()
    assert len(built.calendar.weekly.days[0]) == 2
    assert check(form) == [("weekly.mon[2].start", "8:45〜17:15の時間帯と重なっています")]


def test_unreadable_fields_and_other_problems_are_reported_together() -> None:
    """A time that is not a time, a half-filled window, a special-hours date without hours
    and an announcement without a start are reported along with the validator's findings
    on the rows that could be read."""
    form = post(
        default_fields(
            **{
                "weekly.tue[0].start": "8時",
                "weekly.wed[1].start": "18:00",
                "weekly.thu[0].end": "08:00",
                "overrides[0].date": "2026-07-01",
                "overrides[0].mode": "hours",
                "overrides[1].date": "2026-07-01",
                "announcements[0].label": "お知らせ",
            }
        )
    )
    problems = check(form)
    assert problems == [
        ("weekly.wed[1].end", "終了時刻を入力してください"),
        (
            "overrides[0].windows[0].start",
            "受付時間を入力してください（終日休業にする場合は「終日休業」を選んでください）",
        ),
        ("announcements[0].start", "案内を始める日時を入力してください"),
        ("weekly.tue[0].start", "時刻は「08:45」の形で入力してください"),
        ("weekly.thu[0].end", "終了時刻は開始時刻より後にしてください"),
        (
            "overrides[1].date",
            "2026年7月1日の設定がすでにあります（同じ日付は1件にまとめてください）",
        ),
    ]
    assert form.build().calendar is None


def test_new_announcements_get_an_id_that_a_retry_keeps() -> None:
    """An announcement typed without an id gets one, kept in the form for the next try."""
    form = post(
        default_fields(
            **{
                "announcements[0].label": "お知らせ",
                "announcements[0].text": "停止します。",
                "announcements[0].start": "2026-07-01T09:00",
            }
        )
    )
    cal = form.build().calendar
    assert cal is not None
    assert cal.announcements[0].id == form.announcements[0].id != ""
    assert form.build().calendar == cal


@pytest.mark.parametrize(
    "fields",
    [{"version": "abc"}, {"closures[100].label": "x"}],
)
def test_what_no_browser_form_sends_is_a_bad_request(fields: dict[str, str]) -> None:
    """A version that is not a number, or a hundred rows, is refused outright."""
    with pytest.raises(BadRequest):
        post(fields)


def test_with_spares_adds_one_blank_row_per_list() -> None:
    """The editor always offers one empty row to add an entry without JavaScript."""
    form = CalendarForm.of(Calendar(), None).with_spares()
    assert [len(rows) for rows in form.weekly.values()] == [2, 2, 2, 2, 2, 1, 1]
    assert (len(form.recurring), len(form.closures), len(form.overrides)) == (2, 1, 1)
    assert form.with_spares() == form


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("weekly.mon[1].start", "月曜日の時間帯2（開始）"),
        ("overrides[0].windows[1].end", "日付ごとの設定1行目の時間帯2（終了）"),
        ("closures[2].end", "臨時休業3行目の終了日"),
        ("recurring_closures[0].start", "毎年の休業期間1行目の開始月日"),
        ("announcements[0].text", "臨時案内1件目の読み上げる文章"),
        ("service.end", "受付期間の終了日時"),
    ],
)
def test_field_labels(name: str, label: str) -> None:
    """Fields are named in the list of problems as staff see them."""
    assert field_label(name) == label


def test_ids_and_row_labels() -> None:
    """Field ids are plain; labels number rows from one."""
    assert field_id("overrides[2].windows[0].start") == "f-overrides-2-windows-0-start"
    assert indexed_label("overrides[2].windows[0].start", "設定{0}行目 時間帯{1}") == (
        "設定3行目 時間帯1"
    )


def test_month_days_follow_the_calls_precedence() -> None:
    """Each day's mark follows the same precedence as calls: override, closure, holiday,
    weekly; days outside the service period say so, and the edges say when it starts."""
    cal = Calendar(
        overrides=(DateOverride(date(2026, 5, 6), (Window.of("10:00", "12:00"),), "短縮"),),
        closures=(DateClosure("点検", date(2026, 5, 7), date(2026, 5, 7)),),
        service=ServicePeriod(datetime(2026, 5, 1, 10, tzinfo=TOKYO), None),
        announcements=(
            Announcement("a", "停止", "停止します", datetime(2026, 5, 7, 23, tzinfo=TOKYO)),
        ),
    )
    days = {d.day: d for week in month.weeks(cal, 2026, 5, date(2026, 5, 8)) for d in week}
    assert days[date(2026, 4, 30)].status == month.OUTSIDE
    first = days[date(2026, 5, 1)]
    assert (first.status, first.hours, first.service_note) == (
        month.OPEN,
        ("10:00〜17:15",),
        "受付開始 10:00",
    )
    assert (days[date(2026, 5, 2)].status, days[date(2026, 5, 2)].status_label) == (
        month.CLOSED,
        "閉庁",
    )
    golden = days[date(2026, 5, 5)]
    assert (golden.status, golden.holiday) == (month.HOLIDAY, "こどもの日")
    special = days[date(2026, 5, 6)]  # 振替休日, but the date setting wins
    assert (special.status, special.label, special.hours, special.holiday) == (
        month.OPEN,
        "短縮",
        ("10:00〜12:00",),
        "振替休日",
    )
    closed = days[date(2026, 5, 7)]
    assert (closed.status_label, closed.label, closed.announcements) == ("休業", "点検", ("停止",))
    assert days[date(2026, 5, 8)].today and days[date(2026, 5, 8)].announcements == ("停止",)
    assert len(days) % 7 == 0 and min(days).weekday() == 6  # Sunday first


def test_preview_query_defaults_and_mistakes() -> None:
    """The preview reads date, time, caller and keys; mistakes are named per field."""
    fine = preview.read_query({"date": "2026-06-10", "time": "17:16", "keys": "1 2"}, NOW)
    assert fine.errors == {} and fine.asked
    assert fine.moment == datetime(2026, 6, 10, 17, 16, tzinfo=TOKYO)
    assert fine.key_list == ("1", "2") and fine.caller == "mobile"
    first_visit = preview.read_query({}, NOW)
    assert not first_visit.asked and first_visit.day == "2026-06-10"
    bad = preview.read_query({"date": "x", "time": "25:00", "caller": "fax", "keys": "1a"}, NOW)
    assert set(bad.errors) == {"date", "time", "caller", "keys"}


def test_preview_notes_read_as_japanese() -> None:
    """Engine records and the simulated SMS are described for staff."""
    branch = Note("branch", {"by": "calendar", "value": "holiday", "next": "office_closed"})
    assert preview.describe(branch, "") == ("カレンダー: 休業日（祝日・休業日） → office_closed へ")
    sms = Note("sms_request", {"template": "sms_lost", "to": "09000000000"})
    assert preview.describe(sms, "09000000000") == (
        "SMS「sms_lost」を発信元の番号に送ります（プレビューのため送信しません）"
    )
