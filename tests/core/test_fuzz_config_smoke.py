"""Smoke run of the config fuzz harness without atheris (SPEC R-14 invariant:
`load_config` returns a MeshConfig or raises ConfigurationError, nothing else)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

_PATH = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_config.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_config", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_r14_fuzz_harness_random_inputs() -> None:
    harness = _harness()
    rng = random.Random(20240611)
    for _ in range(1000):
        harness.one_input(rng.randbytes(rng.randrange(1, 200)))


def test_r14_fuzz_harness_json_inputs_reach_the_loader() -> None:
    harness = _harness()
    good = {"providers": {"openai.llm.v1": {"api_key": "sk-test"}}}
    assert harness.config_from_bytes(json.dumps(good).encode()) == good
    harness.one_input(json.dumps(good).encode())
    harness.one_input(b"[1, 2, 3]")
    harness.one_input(b"")
