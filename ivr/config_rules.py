"""The rules for each settings section that a type cannot express (``ivr.config``
checks them at load; each message names the key). Kept apart from the loader so the
settings module stays about declaring and reading settings."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.config import MetricsSettings, RetentionSettings, SmsSettings, TransferSettings


def sms_rules(s: SmsSettings) -> list[tuple[bool, str]]:
    return [
        (s.gateway in ("", "karaden", "generic"), 'sms.gateway: must be karaden, generic or ""'),
        (
            s.gateway != "karaden" or (bool(s.karaden_tenant_id) and s.karaden_service_id > 0),
            "sms.karaden_tenant_id: karaden needs karaden_tenant_id and karaden_service_id",
        ),
        (
            s.karaden_url.startswith(("http://", "https://")),
            "sms.karaden_url: must start with http:// or https://",
        ),
        (
            s.gateway != "generic" or s.generic_url.startswith(("http://", "https://")),
            "sms.generic_url: must start with http:// or https:// (gateway is generic)",
        ),
        (s.generic_format in ("json", "form"), "sms.generic_format: must be json or form"),
        (bool(s.generic_to_field), "sms.generic_to_field: must not be empty"),
        (bool(s.generic_body_field), "sms.generic_body_field: must not be empty"),
        (bool(s.generic_id_path), "sms.generic_id_path: must not be empty"),
        (bool(s.fraud_warning.strip()), "sms.fraud_warning: must not be empty"),
        (all(d.strip() for d in s.allowed_domains), "sms.allowed_domains: empty entry"),
        (s.daily_limit >= 1, "sms.daily_limit: must be at least 1"),
        (s.rate_per_minute >= 1, "sms.rate_per_minute: must be at least 1"),
        (s.max_attempts >= 1, "sms.max_attempts: must be at least 1"),
        (s.request_timeout > 0, "sms.request_timeout: must be greater than 0"),
        (s.retry_base > 0, "sms.retry_base: must be greater than 0"),
        (s.retry_max >= s.retry_base, "sms.retry_max: must be >= retry_base"),
        (s.poll_interval > 0, "sms.poll_interval: must be greater than 0"),
        (s.poll_hours > 0, "sms.poll_hours: must be greater than 0"),
        (s.db_timeout > 0, "sms.db_timeout: must be greater than 0"),
        *webhook_rules(s),
    ]


def metrics_rules(s: MetricsSettings) -> list[tuple[bool, str]]:
    rules: list[tuple[bool, str]] = []
    for i, cidr in enumerate(s.admin_allowlist):
        try:
            ipaddress.ip_network(cidr.strip(), strict=True)
        except ValueError:
            rules.append((False, f"metrics.admin_allowlist[{i}]: not an address or network"))
    return rules


WEBHOOK_TOKEN_MIN = 32


def webhook_rules(s: SmsSettings) -> list[tuple[bool, str]]:
    """A webhook is served only with a long, URL-safe token, a gateway to read its
    reports, and a list of the provider's addresses (never open to everyone)."""
    rules: list[tuple[bool, str]] = []
    for i, source in enumerate(s.webhook_sources):
        try:
            ipaddress.ip_network(source.strip(), strict=False)
        except ValueError:
            rules.append((False, f"sms.webhook_sources[{i}]: not an address or CIDR block"))
    if not s.webhook_token:
        return rules
    return [
        *rules,
        (
            len(s.webhook_token) >= WEBHOOK_TOKEN_MIN
            and re.fullmatch(r"[A-Za-z0-9_-]+", s.webhook_token) is not None,
            f"sms.webhook_token: at least {WEBHOOK_TOKEN_MIN} characters of A-Z a-z 0-9 _ - "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
        ),
        (bool(s.gateway), "sms.webhook_token: a webhook needs sms.gateway (it reads its reports)"),
        (
            bool(s.webhook_sources),
            "sms.webhook_sources: required with a webhook_token "
            "(the provider's addresses; the webhook is never open to every address)",
        ),
    ]


def retention_rules(s: RetentionSettings) -> list[tuple[bool, str]]:
    from ivr.retention.model import KEY_MIN, parse_period, parse_time_of_day

    rules = [
        (parse_period(getattr(s, name)) is not None, f"retention.{name}: {_PERIOD_HINT}")
        for name in ("callers", "sms_recipients", "spool", "cel_files")
    ]
    rules.append((parse_time_of_day(s.run_at) is not None, "retention.run_at: a time like 03:30"))
    rules.append(
        (
            s.key == "" or len(s.key) >= KEY_MIN,
            f"retention.key: at least {KEY_MIN} characters (set IVR_RETENTION_KEY)",
        )
    )
    return rules


_PERIOD_HINT = 'a period like "24 months", "30 days" or "12 hours" (at least 1)'


def transfer_rules(s: TransferSettings) -> list[tuple[bool, str]]:
    from ivr.transfer.model import ENDPOINT_RE, Target, TargetSet, check

    rules = [
        (
            s.caller_id in ("help_line", "caller"),
            "transfer.caller_id: must be help_line or caller",
        ),
        (
            s.help_line_number == ""
            or (s.help_line_number.isdigit() and 3 <= len(s.help_line_number) <= 15),
            "transfer.help_line_number: must be 3-15 digits (or empty)",
        ),
        (
            bool(s.endpoints) and all(ENDPOINT_RE.match(e) for e in s.endpoints),
            "transfer.endpoints: PJSIP endpoint names (a-z, 0-9, _), at least one",
        ),
        (
            bool(ENDPOINT_RE.match(s.trunk_endpoint)),
            "transfer.trunk_endpoint: a PJSIP endpoint name",
        ),
        (s.trunk_channels >= 0, "transfer.trunk_channels: must be 0 (no limit) or more"),
        (s.slot_seconds >= 30, "transfer.slot_seconds: must be at least 30"),
        (s.db_timeout > 0, "transfer.db_timeout: must be greater than 0"),
    ]
    targets = TargetSet(tuple(Target(**vars(t)) for t in s.targets))
    index = {t.name: i for i, t in reversed(list(enumerate(s.targets)))}
    for issue in check(targets, s.endpoints):
        where = f"[{index[issue.target]}].{issue.field}" if issue.target in index else ""
        rules.append((False, f"transfer.targets{where}: {issue.detail}"))
    return rules
