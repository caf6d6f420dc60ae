"""Settings load from YAML and the environment; bad keys fail naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from ivr.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "ivr.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ivr.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file() -> None:
    """With no file and no environment, the documented defaults apply."""
    s = load_settings(None, env={})
    assert s.ari.app == "myna-ivr" and s.prompts.sample_rate == 8000


def test_secrets_come_from_environment(tmp_path: Path) -> None:
    """IVR_ARI_PASSWORD and IVR_DATABASE_URL override the file."""
    path = _write(tmp_path, "ari:\n  username: x\n")
    s = load_settings(
        path, env={"IVR_ARI_PASSWORD": "s3cret", "IVR_DATABASE_URL": "postgresql://h/db"}
    )
    assert s.ari.password == "s3cret" and s.database.dsn == "postgresql://h/db"
    assert "s3cret" not in repr(s)  # secrets are kept out of reprs and logs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ari:\n  pasword: x\n", "ari.pasword: unknown key"),
        ("aari: {}\n", "aari: unknown key"),
        ("ari:\n  request_timeout: soon\n", "ari.request_timeout: expected a number"),
        ("database:\n  write_queue: many\n", "database.write_queue: expected an integer"),
        ("admin:\n  allowlist: 10.0.0.0/8\n", "admin.allowlist: expected a list"),
        ("prompts:\n  sample_rate: 44100\n", "prompts.sample_rate: must be 8000 or 16000"),
        ("log:\n  level: loud\n", "log.level: must be"),
        ("ari: [1, 2]\n", "ari: expected a mapping"),
        ("- just\n- a list\n", "must be a mapping"),
        ("ari: {url: 'x\n", "not valid YAML"),
    ],
)
def test_invalid_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Each kind of mistake fails at start-up with a message naming the key."""
    with pytest.raises(ConfigError, match="config: .*" + message.replace("[", r"\[")):
        load_settings(_write(tmp_path, text), env={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A config path that does not exist is reported, not ignored."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml", env={})


def _keys(cls: type, prefix: str = "") -> set[str]:
    out = set()
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            out |= _keys(type(default), f"{prefix}{f.name}.")
        else:
            out.add(prefix + f.name)
    return out


def test_example_documents_every_key() -> None:
    """config/ivr.example.yaml lists every setting, loads, and equals the defaults."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    documented = {f"{section}.{key}" for section, values in raw.items() for key in values}
    assert documented == _keys(Settings)
    assert load_settings(EXAMPLE, env={}) == Settings()


def test_cli_refuses_bad_config_naming_the_key(tmp_path: Path) -> None:
    """`ivr --config FILE run` with a misspelt key exits at once with the key named."""
    import subprocess
    import sys

    path = _write(tmp_path, "ari:\n  pasword: x\n")
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "--config", str(path), "run"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "config: ari.pasword: unknown key" in result.stderr
