"""Render the monitoring configuration with the deployment's values:
``python -m ivr.metrics.opsconf --out DIR`` (values from the environment, i.e. .env).

Writes ``alertmanager.yml`` (ops/alertmanager/, the city's SMTP server) and copies
``prometheus.yml`` and ``alerts.yml`` (ops/prometheus/) beside it. A missing required
value stops with its name: an alert that cannot be mailed is worse than no start.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

OPS = Path(__file__).resolve().parents[2] / "ops"
REQUIRED = ("IVR_ALERT_SMTP_HOST", "IVR_ALERT_EMAIL_FROM", "IVR_ALERT_EMAIL_TO")
OPTIONAL = {"IVR_ALERT_SMTP_USER": "", "IVR_ALERT_SMTP_PASSWORD": "", "IVR_ALERT_SMTP_TLS": "true"}
_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")


class OpsConfigError(Exception):
    """A value is missing or cannot be written into the configuration."""


def values_from_env(env: Mapping[str, str]) -> dict[str, str]:
    values = {name: env.get(name, "").strip() for name in REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise OpsConfigError(f"opsconf: set {', '.join(missing)} (see .env.example)")
    for name, default in OPTIONAL.items():
        values[name] = env.get(name, "").strip() or default
    if values["IVR_ALERT_SMTP_TLS"] not in ("true", "false"):
        raise OpsConfigError("opsconf: IVR_ALERT_SMTP_TLS must be true or false")
    if not re.fullmatch(r"[^\s:]+:\d+", values["IVR_ALERT_SMTP_HOST"]):
        raise OpsConfigError(
            "opsconf: IVR_ALERT_SMTP_HOST must be host:port (e.g. smtp.city.lg.jp:587)"
        )
    for name, value in values.items():
        if any(c in value for c in '"\\\n\r'):
            raise OpsConfigError(
                f"opsconf: {name} must not contain quotes, backslashes or newlines"
            )
    return values


def render(template: str, values: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise OpsConfigError(f"opsconf: no value for @@{m.group(1)}@@")
        return values[m.group(1)]

    return _PLACEHOLDER.sub(one, template)


def write(out: Path, env: Mapping[str, str]) -> list[Path]:
    values = values_from_env(env)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "alertmanager.yml"
    text = render((OPS / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"), values)
    target.write_text(text, encoding="utf-8")
    target.chmod(0o600)  # carries the SMTP password
    written = [target]
    for name in ("prometheus.yml", "alerts.yml"):
        written.append(Path(shutil.copyfile(OPS / "prometheus" / name, out / name)))
    return written


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.metrics.opsconf")
    parser.add_argument("--out", required=True, help="directory for the rendered files")
    args = parser.parse_args(argv)
    try:
        for path in write(Path(args.out), os.environ if env is None else env):
            print(f"opsconf: wrote {path}")
    except OpsConfigError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
