"""Erlang B and the traffic arithmetic behind docs/capacity.md, against published
Erlang B table values."""

from __future__ import annotations

import pytest

from bench.sizing import main as sizing_main
from ivr.capacity.erlang import Month, Traffic, blocking, carried, lines_for


@pytest.mark.parametrize(
    ("lines", "erlangs", "expected"),
    [(1, 1.0, 0.5), (2, 1.0, 0.2), (18, 10.0, 0.00714), (17, 10.0, 0.01295), (0, 3.0, 1.0)],
)
def test_blocking_matches_the_table(lines: int, erlangs: float, expected: float) -> None:
    """B(1,1) = 1/2, B(2,1) = 1/5, and the 10-erlang row of the standard table."""
    assert blocking(lines, erlangs) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("erlangs", "target", "lines"),
    [(10.0, 0.01, 18), (4.4, 0.01, 10), (4.6, 0.01, 11), (1.36, 0.01, 5), (0.0, 0.01, 0)],
)
def test_lines_for_a_blocking_target(erlangs: float, target: float, lines: int) -> None:
    """10 erlangs at 1% need 18 lines; 10 lines carry about 4.46 erlangs, 5 about 1.36."""
    assert lines_for(erlangs, target) == lines


def test_carried_traffic_inverts_lines_for() -> None:
    """The erlangs n lines carry at 1% are what the table lists (4.46 for 10, 10.44 for
    18), and lines_for gives n back for them."""
    assert carried(10, 0.01) == pytest.approx(4.46, abs=0.01)
    assert carried(18, 0.01) == pytest.approx(10.44, abs=0.01)
    for n in (1, 5, 30, 120):
        assert lines_for(carried(n, 0.01) * 0.999, 0.01) == n


def test_bad_arguments_are_refused() -> None:
    """Negative traffic or a target outside (0, 1) is an error, not a silent figure."""
    with pytest.raises(ValueError):
        lines_for(5.0, 0.0)
    with pytest.raises(ValueError):
        blocking(-1, 1.0)


def test_a_transfer_holds_two_channels() -> None:
    """60 calls an hour of 3 minutes are 3 erlangs; transferring half of them for a
    5-minute conversation adds 60 x 0.5 x 300 s x 2 channels = 5 erlangs."""
    assert Traffic(60, 180).erlangs == pytest.approx(3.0)
    assert Traffic(60, 180, 0.5, 300).erlangs == pytest.approx(8.0)


def test_busy_hour_from_a_month() -> None:
    """2,200 office-hours calls over 20 days are 110 a day; a busiest hour with 20% of a
    day twice as busy as average gets 44 calls."""
    month = Month(2200, office_share=1.0, office_days=20, peak_day_factor=2, peak_hour_share=0.2)
    assert month.busy_hour_calls == pytest.approx(44.0)


def test_sizing_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/sizing.py prints a row per scenario with the lines at each target."""
    assert sizing_main(["--blocking", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "busy season, high" in out and "lines@0.01" in out
    row = next(line for line in out.splitlines() if line.startswith("busy season, high"))
    assert row.split()[-1] == "7"  # 22.7 calls x 306 s = 1.93 erlangs -> 7 lines at 1%
