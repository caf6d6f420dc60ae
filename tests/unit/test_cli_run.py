"""`ivr run` refuses to start on a broken flow file, naming each problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def test_broken_flow_file_stops_start_up_with_its_problems(tmp_path: Path) -> None:
    """A configured flow that does not validate exits 2 with the line of each problem."""
    flow = tmp_path / "bad.yaml"
    flow.write_text("version: 1\nstart: nowhere\nprompts: {}\nnodes: {}\n", encoding="utf-8")
    config = tmp_path / "ivr.yaml"
    config.write_text(yaml.safe_dump({"flow": {"file": str(flow)}}))
    out = subprocess.run(
        [sys.executable, "-m", "ivr", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "line 2: 'start' refers to node 'nowhere'" in out.stderr
    assert "Traceback" not in out.stderr
