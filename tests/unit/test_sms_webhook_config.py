"""The delivery webhook's settings: a token is only accepted with a gateway, the
provider's addresses and enough length; each mistake stops start-up naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import ConfigError, Settings, load_settings

TOKEN = "Zq3v9xY1kP0aB7cD2eF5gH8iJ4lM6nO_-tuvw"  # 37 URL-safe characters
KARADEN = "sms:\n  gateway: karaden\n  karaden_tenant_id: t\n  karaden_service_id: 1\n"


def _load(tmp_path: Path, text: str, token: str = TOKEN) -> Settings:
    path = tmp_path / "ivr.yaml"
    path.write_text(text)
    return load_settings(path, env={"IVR_SMS_WEBHOOK_TOKEN": token} if token else {})


def test_token_with_gateway_and_sources_loads(tmp_path: Path) -> None:
    """The token comes from the environment and stays out of reprs."""
    s = _load(tmp_path, KARADEN + "  webhook_sources: ['203.0.113.0/24', '2001:db8::/32']\n")
    assert s.sms.webhook_token == TOKEN and TOKEN not in repr(s)


@pytest.mark.parametrize(
    ("text", "token", "message"),
    [
        (KARADEN, TOKEN, r"sms\.webhook_sources: required with a webhook_token"),
        (KARADEN + "  webhook_sources: ['203.0.113.0/24']\n", "short", "at least 32"),
        (
            KARADEN + "  webhook_sources: ['203.0.113.0/24']\n",
            "x" * 31 + "/" + "y" * 8,
            "at least 32 characters of A-Z",
        ),
        ("sms:\n  webhook_sources: ['203.0.113.0/24']\n", TOKEN, "needs sms.gateway"),
        (KARADEN + "  webhook_sources: ['example.com']\n", TOKEN, r"webhook_sources\[0\]"),
        (KARADEN + "  webhook_sources: ['10.0.0.0/8', 'nope']\n", "", r"webhook_sources\[1\]"),
    ],
)
def test_unsafe_webhook_settings_stop_start_up(
    tmp_path: Path, text: str, token: str, message: str
) -> None:
    """A token without sources (open to every address), a short or path-unsafe token, a
    token without a gateway, and an unreadable source are refused."""
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text, token)
