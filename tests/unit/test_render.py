"""`python -m ivr.dev.render` turns asterisk-conf/ into a deployment's /etc/asterisk
from environment variables, and names any variable that is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.dev.asterisk import CONF_DIR
from ivr.dev.render import main

ENV = {
    "IVR_SIP_BIND": "0.0.0.0",
    "IVR_SIP_PORT": "5060",
    "IVR_ARI_PORT": "8088",
    "IVR_ARI_USER": "ivr",
    "IVR_ARI_PASSWORD": "s3cret-Password_x",
    "IVR_TRUNK_HOST": "192.0.2.10",
    "IVR_TRUNK_PORT": "5060",
    "IVR_RTP_START": "10000",
    "IVR_RTP_END": "10999",
    "IVR_SOUNDS_DIR": "/var/lib/ivr/sounds",
}


def test_every_placeholder_is_substituted(tmp_path: Path) -> None:
    """With every variable set, each asterisk-conf/ file is written with no @@ left."""
    assert main(["--out", str(tmp_path / "etc")], env=ENV) == 0
    rendered = {p.name: p.read_text() for p in (tmp_path / "etc").glob("*.conf")}
    assert set(rendered) == {p.name for p in CONF_DIR.glob("*.conf")}
    assert not [name for name, text in rendered.items() if "@@" in text]
    assert "password = s3cret-Password_x" in rendered["ari.conf"]
    assert "match = 192.0.2.10" in rendered["pjsip.conf"]
    assert "astmoddir => /usr/lib/asterisk/modules" in rendered["asterisk.conf"]
    assert "/var/lib/ivr/sounds/system/fallback" in rendered["extensions.conf"]


def test_missing_variable_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing (or empty) variable stops the rendering, and the message names it."""
    env = {k: v for k, v in ENV.items() if k != "IVR_TRUNK_HOST"} | {"IVR_ARI_PASSWORD": ""}
    assert main(["--out", str(tmp_path / "etc")], env=env) != 0
    err = capsys.readouterr().err
    assert "IVR_TRUNK_HOST" in err and "IVR_ARI_PASSWORD" in err
    assert not (tmp_path / "etc").exists()  # nothing half-rendered
