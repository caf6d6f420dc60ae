"""Render ``asterisk-conf/`` for a deployment: ``python -m ivr.dev.render --out DIR``.

The same files and the same substitution as the tests' private instances
(``ivr.dev.asterisk.render_dir``); here the values come from the environment,
and the directories are those of a Debian / container Asterisk. docker-compose
runs this once (service ``asterisk-config``) into the volume that Asterisk
mounts at ``/etc/asterisk``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ivr.dev.asterisk import CONF_DIR, AsteriskSetupError, render_dir

# Placeholder -> environment variable (all required).
FROM_ENV = {
    "SIP_BIND": "IVR_SIP_BIND",
    "SIP_PORT": "IVR_SIP_PORT",
    "ARI_PORT": "IVR_ARI_PORT",
    "ARI_USER": "IVR_ARI_USER",
    "ARI_PASSWORD": "IVR_ARI_PASSWORD",
    "TRUNK_HOST": "IVR_TRUNK_HOST",
    "TRUNK_PORT": "IVR_TRUNK_PORT",
    "RTP_START": "IVR_RTP_START",
    "RTP_END": "IVR_RTP_END",
    "SOUNDS_DIR": "IVR_SOUNDS_DIR",
}
# Placeholder -> (environment variable, default).
WITH_DEFAULT = {
    "MOD_DIR": ("IVR_ASTERISK_MODDIR", "/usr/lib/asterisk/modules"),
    # Debian packages use /usr/share/asterisk; source builds (container images) /var/lib/asterisk.
    "DATA_DIR": ("IVR_ASTERISK_DATADIR", "/var/lib/asterisk"),
    "ARI_APP": ("IVR_ARI_APP", "myna-ivr"),  # = ari.app in the controller's config
    # Seconds between OPTIONS to the trunk, so the dashboard can say whether it answers.
    "TRUNK_QUALIFY": ("IVR_TRUNK_QUALIFY", "30"),
}
# The standard directories of a Debian / container Asterisk.
FIXED = {
    "ETC_DIR": "/etc/asterisk",
    "LIB_DIR": "/var/lib/asterisk",
    "SPOOL_DIR": "/var/spool/asterisk",
    "RUN_DIR": "/var/run/asterisk",
    "LOG_DIR": "/var/log/asterisk",
}
PORTS = ("SIP_PORT", "ARI_PORT", "TRUNK_PORT", "RTP_START", "RTP_END")


class RenderError(Exception):
    """A variable is missing or invalid; the message names it."""


def values_from_env(env: Mapping[str, str]) -> dict[str, str]:
    missing = sorted(var for var in FROM_ENV.values() if not env.get(var, "").strip())
    if missing:
        raise RenderError(f"missing environment variable(s): {', '.join(missing)}")
    values = {name: env[var].strip() for name, var in FROM_ENV.items()}
    for name, (var, default) in WITH_DEFAULT.items():
        values[name] = env.get(var, "").strip() or default
    values.update(FIXED)
    # Deployments never log key presses: a keyed-in phone number would be kept digit by
    # digit in messages.log (docs/personal-data.md). Only test instances log them.
    values["DTMF_LOG"] = ""
    variable = {**FROM_ENV, **{n: v for n, (v, _) in WITH_DEFAULT.items()}}
    for name, value in values.items():
        # Asterisk's config syntax: ';' starts a comment, a line ends the value.
        if any(c in value for c in ";\n\r") or "@@" in value:
            raise RenderError(f"{variable[name]}: must not contain ';', '@@' or a line break")
    for name in PORTS:
        if not values[name].isdigit() or not 1 <= int(values[name]) <= 65535:
            raise RenderError(f"{FROM_ENV[name]}: expected a port number (1-65535)")
    if not values["TRUNK_QUALIFY"].isdigit():
        raise RenderError("IVR_TRUNK_QUALIFY: expected whole seconds (0 = no OPTIONS)")
    if int(values["RTP_START"]) > int(values["RTP_END"]):
        raise RenderError("IVR_RTP_START: must not be greater than IVR_RTP_END")
    return values


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    environ = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m ivr.dev.render",
        description="render asterisk-conf/ for a deployment from IVR_* environment variables",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write the .conf files")
    parser.add_argument(
        "--conf-dir",
        type=Path,
        default=Path(environ.get("IVR_ASTERISK_CONF_DIR") or CONF_DIR),
        help="the asterisk-conf/ folder (default: $IVR_ASTERISK_CONF_DIR or the repository's)",
    )
    args = parser.parse_args(argv)
    if not args.conf_dir.is_dir() or not any(args.conf_dir.glob("*.conf")):
        print(f"render: no *.conf files in {args.conf_dir}", file=sys.stderr)
        return 2
    try:
        values = values_from_env(environ)
        written = render_dir(values, args.out, args.conf_dir)
    except (RenderError, AsteriskSetupError) as e:
        print(f"render: {e}", file=sys.stderr)
        return 2
    print(f"rendered {len(written)} files from {args.conf_dir} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
