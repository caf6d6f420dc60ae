"""Trunk lines the city needs, by Erlang B, from the specification's call volumes.

``python -m bench.sizing [--ivr-seconds S] [--transfer-share P] [--talk-seconds T]
[--blocking B ...]`` prints one row per scenario: the month's calls (the city's
figures: 1,100 on average, 2,000-2,500 in the July-October busy season, 1,000 of
each 1,100 within office hours), how they bunch into the busiest hour, the offered
trunk traffic (a transferred call holds two trunk channels while it rings and talks)
and the lines needed at each blocking probability. docs/capacity.md explains the
assumptions; the defaults are stated there and can be replaced with figures from the
recorded calls (its SQL). Pure arithmetic: nothing is measured or asserted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ivr.capacity.erlang import Month, Traffic, blocking, lines_for

RING_SECONDS = 15.0  # a city phone answers after a few rings (the targets ring 30 s at most)


@dataclass(frozen=True)
class Scenario:
    label: str
    month: Month


SCENARIOS = (
    Scenario("average month", Month(1100)),
    Scenario("busy season, low", Month(2000)),
    Scenario("busy season, high", Month(2500)),
    # The opening burst: 30% of the day's calls in its first hour (8:45-9:45).
    Scenario("busy high, opening burst", Month(2500, peak_hour_share=0.3)),
    # The busiest day of the busy season: twice an average day (after a holiday,
    # the day the news reports the deadline), with the opening burst.
    Scenario("busy high, peak day", Month(2500, peak_day_factor=2.0, peak_hour_share=0.3)),
    # A margin for the unforeseen: four times the average day in the busiest hour.
    Scenario("stress: 4x day, burst", Month(2500, peak_day_factor=4.0, peak_hour_share=0.3)),
)


def table(
    ivr_seconds: float, transfer_share: float, talk_seconds: float, targets: list[float]
) -> list[str]:
    head = f"{'scenario':<26} {'calls/mo':>8} {'busy-hr calls':>13} {'erlangs':>8}"
    head += "".join(f" {f'lines@{t:g}':>11}" for t in targets)
    out = [head, "-" * len(head)]
    for s in SCENARIOS:
        load = Traffic(
            s.month.busy_hour_calls, ivr_seconds, transfer_share, RING_SECONDS + talk_seconds
        )
        row = f"{s.label:<26} {s.month.calls:>8} {load.calls_per_hour:>13.1f} {load.erlangs:>8.2f}"
        row += "".join(f" {lines_for(load.erlangs, t):>11}" for t in targets)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--ivr-seconds", type=float, default=180.0, help="mean time in the IVR")
    ap.add_argument("--transfer-share", type=float, default=0.2, help="share transferred")
    ap.add_argument("--talk-seconds", type=float, default=300.0, help="talk time of a transfer")
    ap.add_argument(
        "--blocking", type=float, nargs="+", default=[0.01, 0.001], help="blocking targets"
    )
    a = ap.parse_args(argv)
    print(
        f"Assumed: {a.ivr_seconds:g} s in the IVR per call; {a.transfer_share:.0%} of calls "
        f"transferred, each holding a second trunk channel for {RING_SECONDS:g} s ringing + "
        f"{a.talk_seconds:g} s talk; {Month(0).office_days} office days a month; "
        f"{Month(0).office_share:.0%} of calls within office hours."
    )
    print()
    for line in table(a.ivr_seconds, a.transfer_share, a.talk_seconds, a.blocking):
        print(line)
    print()
    print("Erlang B check (10 erlangs): 17 lines block", f"{blocking(17, 10):.2%},", end=" ")
    print(f"18 lines {blocking(18, 10):.2%}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
