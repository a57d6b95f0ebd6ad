"""`modelmesh demo` end to end (SPEC R-119 `demo`, R-99), run as a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.demo import decision_lines, read_log
from meshcore import replay

ROW = re.compile(r"^\s+(\d+)\s+(\S+)\s+(plain|stream)\s+\d+\s+(.*)$")


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        env.pop(var, None)  # the demo needs no keys
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


@pytest.mark.slow
def test_demo_runs_and_replays_r119(tmp_path: Path) -> None:
    """R-119: exit 0; a table row per request for each client; the decisions
    with reasons; the explain() answer; both recorded logs replay (R-99)."""
    proc = _run(["demo", "--requests", "10"], tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr + out
    sections = out.split("\n== ")[1:]
    assert len(sections) == 2
    assert sections[0].startswith("sync client") and sections[1].startswith("async client")
    for section in sections:
        rows = [m.groups() for line in section.splitlines() if (m := ROW.match(line))]
        assert [int(r[0]) for r in rows] == list(range(1, 11))
        assert {r[1] for r in rows} <= {"flaky.model-a", "slow.model-b", "healthy.model-c"}
        # request 1 meets the flaky provider: 503 twice (retried), then rotation
        assert rows[0][3].startswith("flaky.model-a:server_error(503) -> "
                                     "flaky.model-a:server_error(503) -> ")
        assert "model_deactivated  flaky.model-a" in section
        assert "reason=error_threshold" in section
        assert re.search(r"model_rotated\s+flaky.model-a -> slow.model-b\s+reason=server_error",
                         section)
        assert "Retry-After 0.2s honoured" in section
        assert re.search(r"explain\('chat'\): selected_model=\S+\.model-\w", section)
        assert re.search(r"replay OK: \d+ steps of .+ reproduced exactly", section)
        assert "10/10 delivered" in section
    assert out.rstrip().endswith("demo OK")
    logs = sorted(tmp_path.glob("modelmesh-demo-*/*.jsonl"))
    assert [p.name for p in logs] == ["async-events.jsonl", "sync-events.jsonl"]
    for log in logs:
        lines = log.read_text().splitlines()
        assert replay(lines).ok
        assert "demo-key-not-secret" not in log.read_text()  # keys are redacted
        summary = read_log(lines)
        assert len(summary.requests) == 10
        assert all(r.model_id for r in summary.requests.values())
        assert decision_lines(lines)


def test_demo_rejects_bad_request_count_r119(tmp_path: Path) -> None:
    """R-119: a usage error exits 2."""
    proc = _run(["demo", "--requests", "0"], tmp_path)
    assert proc.returncode == 2
    assert "--requests" in proc.stderr
