"""Monitoring: Prometheus metrics and health checks for the controller and the admin site."""

from ivr.metrics.server import MetricsServer
from ivr.metrics.state import ControllerState, TimedHandler, snapshot

__all__ = ["ControllerState", "MetricsServer", "TimedHandler", "snapshot"]
