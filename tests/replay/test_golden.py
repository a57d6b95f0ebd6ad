"""Golden replay logs (SPEC R-99, R-110; ARCHITECTURE rule 5).

Every `tests/replay/*.jsonl` is replayed with `meshcore.log.replay`; each
step's actions must equal the recorded ones. A failure here is a change in
the router's decisions: read the divergence, and if the change is intended
regenerate the logs with `.venv/bin/python tests/replay/make_golden.py`
and commit them with the change.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from meshcore.log import replay

HERE = Path(__file__).resolve().parent
REGENERATE = ".venv/bin/python tests/replay/make_golden.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCENARIOS = sorted(_generator().SCENARIOS)


def test_r99_every_scenario_has_a_golden_log() -> None:
    logs = sorted(p.stem for p in HERE.glob("*.jsonl"))
    assert logs == SCENARIOS, f"golden logs out of date; regenerate with `{REGENERATE}`"


@pytest.mark.parametrize("name", SCENARIOS)
def test_r110_golden_log_replays(name: str) -> None:
    lines = (HERE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    report = replay(lines)
    assert report.error is None, f"{name}: {report.error}"
    if not report.ok:
        d = report.first_divergence
        assert d is not None
        pytest.fail(
            f"golden log {name}.jsonl diverges at step {d.step} (event {json.dumps(d.event)}):\n"
            f"expected {json.dumps(d.expected)[:1500]}\nactual   {json.dumps(d.actual)[:1500]}\n"
            f"This is a change in routing decisions. Review it; if intended, regenerate "
            f"with `{REGENERATE}` and commit the new logs."
        )
    assert report.steps == len([ln for ln in lines[1:] if ln.strip()])
    assert any("deliver" in d or "fail" in d for d in report.decisions)


def test_r110_tampered_log_is_detected() -> None:
    """The golden check can fail: change one recorded decision and replay."""
    lines = (HERE / "failover.jsonl").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines[1:], start=1):
        if '"model_id": "pa.a"' in line and '"SendAttempt"' in line:
            lines[i] = line.replace('"model_id": "pa.a"', '"model_id": "pc.c"', 1)
            break
    else:
        pytest.fail("failover.jsonl has no send to pa.a")
    assert not replay(lines).ok
