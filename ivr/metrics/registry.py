"""Metric definitions. Counts the controller's objects already keep are read at scrape
time (a custom collector), so nothing on the call path writes to a metric except the
event-handling histogram."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr.metrics.clock import ClockStatus
from ivr.metrics.db import DbFacts
from ivr.metrics.state import ControllerState

# Not registered anywhere by itself: each server's registry adds it.
EVENT_SECONDS = Histogram(
    "ivr_ari_event_handling_seconds",
    "Time to route one ARI event to its call (on the socket reader; must stay small)",
    ["kind"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
    registry=None,
)

CLOCK_STATES = ("ok", "unsynchronised", "unknown")


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def labelled(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, n in sorted(values.items()):
        family.add_metric([key], n)
    return family


def clock_family(name: str, clock: ClockStatus) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        name,
        "System clock: 1 for the current state",
        labels=["state"],
    )
    for state in CLOCK_STATES:
        family.add_metric([state], 1.0 if clock.state == state else 0.0)
    return family


def login_families(counts: dict[str, int]) -> list[Metric]:
    return [
        gauge(
            "ivr_admin_login_failures_last_hour",
            "Failed admin logins in the last hour (audit log)",
            counts.get("login.failure", 0),
        ),
        gauge(
            "ivr_admin_lockouts_last_hour",
            "Admin logins locked out in the last hour (audit log)",
            counts.get("login.locked", 0),
        ),
        gauge(
            "ivr_admin_distributed_attacks_last_hour",
            "Accounts tried from many addresses in the last hour (audit log)",
            counts.get("login.distributed_attack", 0),
        ),
    ]


class ControllerCollector(Collector):
    """Yields the controller's state as read just before the scrape."""

    def __init__(self) -> None:
        self.state = ControllerState()
        self.db = DbFacts()
        self.clock = ClockStatus("unknown", "")
        self.ready = False

    def collect(self) -> Iterator[Metric]:
        s, db = self.state, self.db
        yield gauge("ivr_calls_in_progress", "Calls being handled", s.calls_in_progress)
        yield CounterMetricFamily(
            "ivr_calls_started", "Calls this controller started or adopted", value=s.calls_started
        )
        yield gauge("ivr_ari_connected", "ARI event socket open (1) or not (0)", s.ari_connected)
        yield gauge("ivr_ari_ready", "ARI connected and reconciled: calls are served", s.ari_ready)
        yield CounterMetricFamily(
            "ivr_ari_connects", "ARI event socket connections made", value=s.ari_connects
        )
        yield CounterMetricFamily(
            "ivr_ari_reconnects",
            "ARI reconnections",
            value=max(0, s.ari_connects - 1),
        )
        yield gauge("ivr_record_backlog", "Call records waiting for the database", s.record_backlog)
        yield gauge(
            "ivr_record_write_lag_seconds",
            "Age of the oldest call record not yet in the database",
            s.record_lag_seconds,
        )
        yield gauge("ivr_spool_depth", "Call records in the disk spool", s.spool_depth)
        yield gauge(
            "ivr_dead_letters",
            "Call records the database refused (ivr records replay)",
            s.dead_letters,
        )
        if s.speech_restarts is not None:
            yield CounterMetricFamily(
                "ivr_speech_worker_restarts",
                "Speech workers replaced",
                value=s.speech_restarts,
            )
        if s.speech_started is not None:
            yield CounterMetricFamily(
                "ivr_speech_workers_started",
                "Speech worker processes started",
                value=s.speech_started,
            )
        yield gauge("ivr_database_up", "The database answered the last check", db.up)
        yield labelled(
            "ivr_calls_last_hour",
            "Calls started in the last hour that have ended, by outcome",
            "outcome",
            db.counts.get("calls", {}),
        )
        yield labelled(
            "ivr_transfers_last_hour",
            "Transfers started in the last hour, by outcome",
            "outcome",
            db.counts.get("transfers", {}),
        )
        outbox = {"queued": 0, "sending": 0, **db.counts.get("sms", {})}
        yield labelled("ivr_sms_outbox", "SMS waiting to be sent, by status", "status", outbox)
        yield gauge(
            "ivr_sms_outbox_oldest_pending_seconds",
            "Age of the oldest SMS not yet sent (0 when none)",
            db.sms_oldest_pending_seconds,
        )
        yield clock_family("ivr_clock_sync", self.clock)
        yield gauge("ivr_ready", "Ready: ARI reconciled and the database reachable", self.ready)


def controller_registry(collector: Collector, extra: Iterable[Collector] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    registry.register(EVENT_SECONDS)
    ProcessCollector(registry=registry)
    for c in extra:
        registry.register(c)
    return registry
