"""Vulnerability audit of the locked dependencies: ``python -m ivr.dev.audit``.

Runs ``pip-audit`` against ``requirements.lock`` and ``requirements-dev.lock`` (the exact
pinned versions, without installing anything) and says one of three things:

* AUDITED — every package was checked and none has a known vulnerability (exit 0);
* VULNERABLE — a checked package has a known vulnerability (exit 1, each one listed);
* NOT AUDITED — the vulnerability data source could not be reached, or packages were
  skipped (pip-audit itself then says "No known vulnerabilities found" while it looked
  nothing up). A loud banner says why; the exit is 0 so that an offline build still
  runs its tests, or 2 with ``--strict`` where the source must be reachable.

The data source is PyPI's JSON API (``--service pypi``, the default) or OSV
(``--service osv``); the whole audit gives up after ``--timeout`` seconds (60).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-dev.lock")


@dataclass
class Result:
    lock: str
    audited: list[str] = field(default_factory=list)  # name==version checked
    skipped: list[str] = field(default_factory=list)  # name: why it was not checked
    vulnerable: list[str] = field(default_factory=list)  # name==version: ID (fix: ...)
    failure: str = ""  # why the lock could not be audited at all


def _pip_audit() -> list[str]:
    beside = Path(sys.executable).with_name("pip-audit")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pip-audit")
    return [found] if found else [sys.executable, "-m", "pip_audit"]


def parse(lock: str, stdout: str) -> Result:
    """pip-audit's JSON report -> what was checked, skipped and found."""
    result = Result(lock)
    report = json.loads(stdout)
    for dep in report.get("dependencies", []):
        name = f"{dep.get('name')}=={dep.get('version', '?')}"
        if "skip_reason" in dep:
            result.skipped.append(f"{dep.get('name')}: {dep['skip_reason']}")
            continue
        result.audited.append(name)
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            aliases = ", ".join(vuln.get("aliases", []))
            also = f" ({aliases})" if aliases else ""
            result.vulnerable.append(f"{name}: {vuln.get('id')}{also}; fixed in {fixes}")
    return result


def audit(lock: Path, service: str, seconds: float) -> Result:
    argv = [
        *_pip_audit(),
        "--requirement", str(lock), "--no-deps", "--disable-pip",
        "--vulnerability-service", service, "--format", "json",
        "--progress-spinner", "off", "--timeout", str(max(5, int(seconds / 4))),
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        return Result(lock.name, failure=f"no answer within {seconds:.0f} s")
    except OSError as e:
        return Result(lock.name, failure=f"pip-audit cannot run: {e}")
    try:
        return parse(lock.name, done.stdout)
    except (ValueError, AttributeError):
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"pip-audit exited {done.returncode} without a report"
        return Result(lock.name, failure=why[:400])


def banner(lines: list[str]) -> str:
    bar = "!" * 78
    return "\n".join([bar, *(f"!!! {line}" for line in lines), bar])


def report(results: list[Result], service: str) -> tuple[str, str]:
    """(verdict, text): verdict is audited, vulnerable or not_audited."""
    vulnerable = [v for r in results for v in r.vulnerable]
    unchecked = [r for r in results if r.failure or r.skipped or not r.audited]
    out = []
    if vulnerable:
        out.append(
            banner(["VULNERABLE: known vulnerabilities in locked dependencies", *vulnerable])
        )
    if unchecked:
        lines = [f"NOT AUDITED ({service}): the vulnerability data could not be checked"]
        for r in unchecked:
            if r.failure:
                lines.append(f"{r.lock}: {r.failure}")
            else:
                lines.append(f"{r.lock}: {len(r.skipped)} of {len(r.skipped) + len(r.audited)}"
                             " packages not checked, e.g.")  # fmt: skip
                lines.extend(f"  {s}" for s in r.skipped[:3])
        lines.append("Run `make audit` where pypi.org (or api.osv.dev: SERVICE=osv) is reachable.")
        out.append(banner(lines))
    if vulnerable:
        return "vulnerable", "\n".join(out)
    if unchecked:
        return "not_audited", "\n".join(out)
    count = sum(len(r.audited) for r in results)
    return "audited", f"AUDITED ({service}): {count} locked packages, no known vulnerabilities"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.dev.audit", description=__doc__)
    parser.add_argument("locks", nargs="*", help="lock files (default: both of the project's)")
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole run")
    parser.add_argument("--strict", action="store_true", help="exit 2 when not audited")
    args = parser.parse_args(argv)
    locks = [Path(p) for p in args.locks] or [ROOT / name for name in LOCKS]
    deadline = time.monotonic() + args.timeout
    results = []
    for i, lock in enumerate(locks):
        share = max(1.0, (deadline - time.monotonic()) / (len(locks) - i))
        results.append(audit(lock, args.service, share))
    verdict, text = report(results, args.service)
    print(text, file=sys.stderr if verdict != "audited" else sys.stdout, flush=True)
    if verdict == "vulnerable":
        return 1
    if verdict == "not_audited":
        return 2 if args.strict else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
