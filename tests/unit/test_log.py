"""Logs are JSON lines with Tokyo timestamps, per-call context, and masked numbers."""

from __future__ import annotations

import json

import pytest
import structlog

from ivr import log


def test_mask_keeps_last_four_digits() -> None:
    """Phone numbers keep only their last four digits."""
    assert log.mask_number("09012345678") == "*******5678"
    assert log.mask_number("+81-90-1234-5678") == "+**-**-****-5678"
    assert log.mask_number("110") == "110"


def test_json_line_with_context_and_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    """A call's log line carries call_id, masks the caller and hides SMS bodies."""
    log.configure("info", "yes")
    with structlog.contextvars.bound_contextvars(call_id="c-1"):
        structlog.get_logger("t").info("call_summary", caller="09012345678", body="秘密の本文")
    structlog.reset_defaults()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["call_id"] == "c-1" and line["event"] == "call_summary"
    assert line["caller"] == "*******5678"
    assert line["body"] == "<5 chars>"
    assert line["ts"].endswith("+09:00")


def test_typed_numbers_in_keys_are_masked() -> None:
    """A mobile number keyed in for SMS is masked inside the keys pressed; menu keys stay."""
    event = log.redact(None, "info", {"digits": "1109087654321#1"})
    assert event["digits"] == "*********4321#1"
    assert log.redact(None, "info", {"digits": "*2"})["digits"] == "*2"
