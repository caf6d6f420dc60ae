"""The dependency audit: it never passes as audited when it looked nothing up, and a
known vulnerability fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ivr.dev import audit

ROOT = Path(__file__).resolve().parents[2]

# The shape of `pip-audit --format json` (pip-audit 2.x).
REPORT = {
    "dependencies": [
        {"name": "aiohttp", "version": "3.8.0", "vulns": [
            {"id": "PYSEC-2023-120", "fix_versions": ["3.8.5"], "aliases": ["CVE-2023-37276"],
             "description": "request smuggling"}]},
        {"name": "pyyaml", "version": "6.0.2", "vulns": []},
    ],
    "fixes": [],
}  # fmt: skip


def test_the_real_lock_files_are_audited_or_say_loudly_they_were_not() -> None:
    """Against requirements.lock and requirements-dev.lock: either every package was
    checked, or a NOT AUDITED banner says why; pip-audit's own "No known
    vulnerabilities found" is never passed on for packages it skipped."""
    done = subprocess.run(
        [sys.executable, "-m", "ivr.dev.audit", "--timeout", "60"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    text = done.stdout + done.stderr
    assert done.returncode in (0, 1), text
    if "NOT AUDITED" in text:
        assert done.returncode == 0 and "!!!" in text and "requirements" in text
        assert not done.stdout.startswith("AUDITED")
        strict = subprocess.run(
            [sys.executable, "-m", "ivr.dev.audit", "--strict", "--timeout", "60"],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        )  # fmt: skip
        assert strict.returncode == 2
    elif done.returncode == 0:
        assert done.stdout.startswith("AUDITED (pypi):") and "no known vulnerabilities" in text
    else:
        assert "VULNERABLE" in text


def test_a_known_vulnerability_fails_the_audit() -> None:
    """A vulnerable package is named with its advisory and fix; the verdict fails."""
    result = audit.parse("requirements.lock", json.dumps(REPORT))
    assert result.audited == ["aiohttp==3.8.0", "pyyaml==6.0.2"]
    verdict, text = audit.report([result], "pypi")
    assert verdict == "vulnerable"
    assert "aiohttp==3.8.0: PYSEC-2023-120 (CVE-2023-37276); fixed in 3.8.5" in text


def test_skipped_packages_are_not_audited() -> None:
    """A report where pip-audit skipped packages (source unreachable) is NOT AUDITED,
    even though nothing vulnerable was found; an unreadable answer is too."""
    skipped = {"dependencies": [{"name": "aiohttp", "skip_reason": "not found on PyPI"}]}
    verdict, text = audit.report([audit.parse("requirements.lock", json.dumps(skipped))], "pypi")
    assert verdict == "not_audited" and "NOT AUDITED" in text and "1 of 1" in text
    failed = audit.Result("requirements-dev.lock", failure="Failed to resolve 'api.osv.dev'")
    verdict, text = audit.report([failed], "osv")
    assert verdict == "not_audited" and "api.osv.dev" in text
    clean = audit.parse(
        "requirements.lock", json.dumps({"dependencies": [REPORT["dependencies"][1]]})
    )  # type: ignore[index]
    assert audit.report([clean], "pypi")[0] == "audited"
