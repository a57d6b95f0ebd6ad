"""Smoke run of the router fuzz harness without atheris (fuzz/fuzz_router.py):
`Router.handle` returns valid actions or raises only the documented misuse
errors (SPEC R-29, R-34, R-110; ARCHITECTURE rule 6)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_router.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_router", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_router_fuzz_harness_random_inputs() -> None:
    harness = _harness()
    rng = random.Random(20261123)
    for _ in range(1500):
        harness.one_input(rng.randbytes(rng.randrange(1, 400)))


def test_router_fuzz_harness_detects_undocumented_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a router that raises on a valid event is caught."""
    harness = _harness()

    def broken(self: object, event: object, now: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.Router, "handle", broken)
    rng = random.Random(7)
    with pytest.raises(RuntimeError):
        for _ in range(200):
            harness.one_input(rng.randbytes(300))
