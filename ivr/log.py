"""structlog set-up: JSON lines off a terminal, per-call context, redacted numbers."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

TOKYO = ZoneInfo("Asia/Tokyo")
# Fields whose values are phone numbers or message bodies: never logged in full.
NUMBER_FIELDS = frozenset({"caller", "to", "number", "dialled_by_caller", "collected"})
BODY_FIELDS = frozenset({"body", "sms_body"})
# Keys a caller pressed: a typed phone number hides in there.
KEY_FIELDS = frozenset({"digits", "keys"})
_DIGITS = re.compile(r"\d")
_NUMBER_RUN = re.compile(r"\d{7,}")


def mask_number(value: str) -> str:
    """Keep the last four digits: enough to help a caller, too little to identify them."""
    digits = sum(1 for _ in _DIGITS.finditer(value))
    if digits <= 4:
        return value
    hide = digits - 4
    out = []
    for ch in value:
        if ch.isdigit() and hide > 0:
            out.append("*")
            hide -= 1
        else:
            out.append(ch)
    return "".join(out)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in NUMBER_FIELDS & event.keys():
        if isinstance(event[key], str):
            event[key] = mask_number(event[key])
    for key in KEY_FIELDS & event.keys():
        if isinstance(event[key], str):
            event[key] = _NUMBER_RUN.sub(lambda m: mask_number(m.group()), event[key])
    for key in BODY_FIELDS & event.keys():
        event[key] = f"<{len(str(event[key]))} chars>"
    return event


def _tokyo_time(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event["ts"] = datetime.now(TOKYO).isoformat(timespec="milliseconds")
    return event


def configure(level: str = "info", json: str = "auto") -> None:
    as_json = json == "yes" or (json == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _tokyo_time,
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
