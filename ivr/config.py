"""Settings: one YAML file + environment secrets -> frozen, typed objects.

Defaults live here, in code. Secrets (passwords, DSNs) come from the
environment, never from the file. Any unknown or invalid key fails at start-up
with a message that names the key, e.g. ``config: ari.port: expected an integer``.
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ivr.config_rules import (
    metrics_rules,
    retention_rules,
    sms_rules,
    transfer_rules,
)


class ConfigError(Exception):
    """The configuration file or environment is invalid; the message names the key."""


@dataclass(frozen=True)
class AriSettings:
    url: str = "http://127.0.0.1:8088"  # Asterisk's HTTP server (bound to loopback)
    app: str = "myna-ivr"  # Stasis application name, as in the dialplan
    username: str = "ivr"
    password: str = field(default="", repr=False)  # env IVR_ARI_PASSWORD
    reconnect_min: float = 0.5  # seconds; jittered exponential backoff
    reconnect_max: float = 10.0
    request_timeout: float = 5.0


@dataclass(frozen=True)
class DatabaseSettings:
    dsn: str = field(
        default="postgresql://127.0.0.1:5432/myna_ivr", repr=False
    )  # env IVR_DATABASE_URL
    write_queue: int = 10000  # call records waiting for the database, before the oldest are spooled
    spool_dir: str = "var/spool"  # records kept here while the database is unreachable


@dataclass(frozen=True)
class PromptSettings:
    sounds_dir: str = "var/sounds"  # generated and converted audio; must be readable by Asterisk
    asterisk_dir: str = (
        ""  # the same folder as Asterisk sees it (chroot/container); "" = sounds_dir
    )
    speed: float = 1.0  # speaking speed of generated speech (1.0 = natural)
    sample_rate: int = 8000  # 8000 -> .wav (slin), 16000 -> .sln16
    # The speech worker (~250 MB) exits after this long with nothing to synthesise; the
    # next prompt to build starts it again. 0 = it stays up.
    worker_idle_seconds: float = 60.0


@dataclass(frozen=True)
class FlowSettings:
    file: str = ""  # a flow YAML used when no version is published; "" = the shipped default


@dataclass(frozen=True)
class ControllerSettings:
    # A call that hears nothing from Asterisk for this long re-checks its playback
    # (a lost event must never leave a caller in silence).
    watchdog_seconds: float = 15.0
    # Calls served at once; a new caller over it hears a short busy message and the
    # call ends (recorded as busy). 0 = no cap. docs/capacity.md says how to set it.
    max_calls: int = 0


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"
    json: str = "auto"  # "auto": JSON unless stderr is a terminal; "yes"/"no"


@dataclass(frozen=True)
class AdminSettings:
    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: str = ""  # with tls_key, the site serves HTTPS itself (TLS 1.2/1.3 only)
    tls_key: str = ""
    allowlist: tuple[str, ...] = ("127.0.0.0/8", "::1/128")  # CIDRs allowed to reach the site
    trusted_proxies: tuple[str, ...] = ()  # X-Forwarded-For is believed only from these
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    audit_retention_days: int = 1825
    cookie_secure: bool = True  # Secure cookies; false only for plain-HTTP tests on localhost
    login_max_failures: int = 10  # failed logins per account and per source address ...
    login_window_minutes: int = 5  # ... within this window, before logins are refused
    site_name: str = "IVR 管理画面"  # shown in the header and page titles


@dataclass(frozen=True)
class SmsSettings:
    gateway: str = ""  # "karaden", "generic", or "" (SMS off: every request is "unavailable")
    token: str = field(default="", repr=False)  # env IVR_SMS_TOKEN: the gateway's API token
    request_timeout: float = 10.0  # seconds for one request to the gateway
    karaden_url: str = "https://prg.karaden.jp"  # base URL (tests point it at a local server)
    karaden_tenant_id: str = ""
    karaden_service_id: int = 0
    karaden_version: str = "2024-03-01"  # the Karaden-Version header
    generic_url: str = ""  # POST here to send
    generic_lookup_url: str = ""  # GET, "{tag}" = the outbox id; "" = cannot look a send up
    generic_status_url: str = ""  # GET, "{id}" = the provider's id; "" = no delivery polling
    generic_format: str = "json"  # request body: json or form
    generic_auth_header: str = "Authorization"  # carries generic_auth_prefix + token
    generic_auth_prefix: str = "Bearer "
    generic_to_field: str = "to"
    generic_body_field: str = "body"
    generic_tag_field: str = "tag"  # the outbox id, so a lost reply can be looked up
    generic_id_path: str = "id"  # where the provider's message id is in a reply (dotted)
    generic_status_path: str = "status"  # where the message's status is in a reply
    generic_parts_path: str = ""  # where the provider's own part count is in a reply; "" = none
    generic_delivered: tuple[str, ...] = ("delivered",)  # statuses meaning delivered
    generic_failed: tuple[str, ...] = ("failed", "undelivered", "rejected")  # final failures
    fraud_warning: str = "○○市が暗証番号や口座番号をお聞きすることはありません。"
    allowed_domains: tuple[str, ...] = ("*.go.jp", "*.lg.jp")  # links must point here
    daily_limit: int = 3  # requests per number per day (Asia/Tokyo)
    rate_per_minute: int = 30  # requests accepted per minute, all numbers together
    blocklist: tuple[str, ...] = ()  # numbers never sent to (also the sms_blocklist table)
    max_attempts: int = 8  # sends tried before a message is marked failed
    retry_base: float = 5.0  # seconds before the first retry; doubles each time ...
    retry_max: float = 600.0  # ... up to this
    poll_interval: float = 60.0  # seconds between delivery-result checks of a sent message
    poll_hours: float = 24.0  # stop checking a sent message's delivery after this long
    db_timeout: float = 2.0  # an SMS request waits this long for the database, then spools
    # Delivery reports pushed by the provider, served by the admin site at
    # /sms/delivery/<webhook_token> when the token is set ("" = no webhook: polling only).
    webhook_token: str = field(default="", repr=False)  # env IVR_SMS_WEBHOOK_TOKEN
    webhook_sources: tuple[str, ...] = ()  # CIDRs allowed to post them (required with a token)


@dataclass(frozen=True)
class TransferTargetSettings:
    """One city number, as ``transfer.targets`` seeds it (staff edit them in the admin site)."""

    name: str  # what flows name: target: kokuho
    number: str  # digits only
    endpoint: str = "trunk"  # the outbound endpoint (one of transfer.endpoints)
    max_calls: int = 2  # callers transferred to it at once, across every controller
    ring_seconds: int = 30  # rings this long, then the flow's no_answer route
    label: str = ""  # for people: 国保課


@dataclass(frozen=True)
class TransferSettings:
    caller_id: str = "help_line"  # shown to staff: "help_line" (the number called) or "caller"
    help_line_number: str = ""  # digits; "" = the number the caller dialled
    whisper_last4: bool = False  # the whisper to staff also reads the caller's last 4 digits
    endpoints: tuple[str, ...] = ("trunk",)  # the only PJSIP endpoints a transfer may use
    trunk_endpoint: str = "trunk"  # whose channels count against trunk_channels
    trunk_channels: int = 0  # the trunk's channel limit (each transfer holds 2); 0 = none
    slot_seconds: float = 300.0  # a capacity slot expires unless renewed (every third of this)
    db_timeout: float = 1.0  # a transfer waits this long for the database, then counts locally
    targets: tuple[TransferTargetSettings, ...] = ()  # used while the database has none


@dataclass(frozen=True)
class StatsSettings:
    cel_file: str = "/var/log/asterisk/cel-ivr.csv"  # env IVR_CEL_FILE; "" = no CEL count
    heartbeat_seconds: float = 5.0  # the controller's pulse for the dashboard


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = True  # the controller serves /metrics, /healthz and /livez
    host: str = "127.0.0.1"  # keep on loopback: Prometheus scrapes from this host
    port: int = 9464  # 0 = any free port (tests)
    admin_allowlist: tuple[str, ...] = ("127.0.0.0/8", "::1/128")  # may read the admin /metrics
    db_timeout: float = 2.0  # seconds for the database checks behind /healthz and /metrics


@dataclass(frozen=True)
class RetentionSettings:
    """How long personal data is kept (docs/personal-data.md); periods like "24 months"."""

    key: str = field(default="", repr=False)  # env IVR_RETENTION_KEY: the HMAC key of hashes
    callers: str = "24 months"  # raw caller numbers (calls, CEL tables), then a keyed hash
    sms_recipients: str = "24 months"  # numbers of finished messages in the outbox, then hashed
    spool: str = "30 days"  # spool, dead-letter and unreadable-line files not yet replayed
    cel_files: str = "30 days"  # Asterisk's CEL file: rotated once loaded, rotations removed
    run_at: str = "03:30"  # the daily run (Asia/Tokyo), HH:MM


@dataclass(frozen=True)
class Settings:
    ari: AriSettings = field(default_factory=AriSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    prompts: PromptSettings = field(default_factory=PromptSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    log: LogSettings = field(default_factory=LogSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    transfer: TransferSettings = field(default_factory=TransferSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)


# Environment variables that override one key each (secrets and deployment paths).
ENVIRONMENT = {
    "IVR_ARI_PASSWORD": ("ari", "password"),
    "IVR_ARI_URL": ("ari", "url"),
    "IVR_DATABASE_URL": ("database", "dsn"),
    "IVR_SOUNDS_DIR": ("prompts", "sounds_dir"),
    "IVR_SPOOL_DIR": ("database", "spool_dir"),
    "IVR_SMS_TOKEN": ("sms", "token"),
    "IVR_SMS_WEBHOOK_TOKEN": ("sms", "webhook_token"),
    "IVR_CEL_FILE": ("stats", "cel_file"),
    "IVR_RETENTION_KEY": ("retention", "key"),
}

T = TypeVar("T")


def load_settings(
    path: str | Path | None = None, env: typing.Mapping[str, str] | None = None
) -> Settings:
    """Read ``path`` (may be None for defaults only), then apply the environment."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"config: cannot read {path}: {e.strerror}") from e
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"config: {path} is not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config: {path} must be a mapping of sections")
        raw = loaded or {}
    for var, (section, key) in ENVIRONMENT.items():
        if env.get(var):
            sect = raw.setdefault(section, {})
            if not isinstance(sect, dict):
                raise ConfigError(f"config: {section}: expected a mapping")
            sect[key] = env[var]
    _numbers_quoted(raw)
    settings = _build(Settings, raw, "")
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    """Rules a type cannot express; each error names the key."""
    rules: list[tuple[bool, str]] = [
        (
            s.ari.url.startswith(("http://", "https://")),
            "ari.url: must start with http:// or https://",
        ),
        (s.ari.reconnect_min > 0, "ari.reconnect_min: must be greater than 0"),
        (s.ari.reconnect_max >= s.ari.reconnect_min, "ari.reconnect_max: must be >= reconnect_min"),
        (s.ari.request_timeout > 0, "ari.request_timeout: must be greater than 0"),
        (s.database.write_queue > 0, "database.write_queue: must be greater than 0"),
        (s.prompts.sample_rate in (8000, 16000), "prompts.sample_rate: must be 8000 or 16000"),
        (0.5 <= s.prompts.speed <= 2.0, "prompts.speed: must be between 0.5 and 2.0"),
        (s.controller.watchdog_seconds > 0, "controller.watchdog_seconds: must be positive"),
        (s.controller.max_calls >= 0, "controller.max_calls: must be 0 (no cap) or more"),
        (
            s.prompts.worker_idle_seconds >= 0,
            "prompts.worker_idle_seconds: must be 0 (never exits) or more",
        ),
        (
            s.log.level in ("debug", "info", "warning", "error"),
            "log.level: must be debug, info, warning or error",
        ),
        (s.log.json in ("auto", "yes", "no"), "log.json: must be auto, yes or no"),
        (1 <= s.admin.port <= 65535, "admin.port: must be a TCP port (1-65535)"),
        (s.stats.heartbeat_seconds > 0, "stats.heartbeat_seconds: must be greater than 0"),
        (0 <= s.metrics.port <= 65535, "metrics.port: must be a TCP port (0-65535)"),
        (s.metrics.db_timeout > 0, "metrics.db_timeout: must be greater than 0"),
        *metrics_rules(s.metrics),
        *sms_rules(s.sms),
        *transfer_rules(s.transfer),
        *retention_rules(s.retention),
    ]
    for ok, message in rules:
        if not ok:
            raise ConfigError(f"config: {message}")


def _numbers_quoted(raw: dict[str, Any]) -> None:
    """YAML reads an unquoted 0312345670 as an octal number: a phone number must be text,
    or a wrong number would be dialled."""
    section = raw.get("transfer")
    targets = section.get("targets") if isinstance(section, dict) else None
    for i, target in enumerate(targets if isinstance(targets, list) else []):
        if (
            isinstance(target, dict)
            and "number" in target
            and not isinstance(target["number"], str)
        ):
            raise ConfigError(
                f'config: transfer.targets[{i}].number: write it in quotes ("0312345678")'
            )


def _build(cls: type[T], raw: Any, where: str) -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"config: {where.rstrip('.') or 'top level'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in known:
            raise ConfigError(f"config: {where}{key}: unknown key")
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in raw:
            values[f.name] = _coerce(hints[f.name], raw[f.name], f"{where}{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"config: {where}{f.name}: required")
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    if is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, where + ".")
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"config: {where}: expected a list")
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):
        raise ConfigError(f"config: {where}: unsupported type")  # pragma: no cover
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config: {where}: expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ConfigError(f"config: {where}: expected an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value) if isinstance(value, str) else _fail(where, "a number")
        except ValueError:
            return _fail(where, "a number")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config: {where}: expected a string")
    raise ConfigError(f"config: {where}: unsupported type {tp}")  # pragma: no cover


def _fail(where: str, what: str) -> Any:
    raise ConfigError(f"config: {where}: expected {what}")
