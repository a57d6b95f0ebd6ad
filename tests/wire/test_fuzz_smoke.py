"""Smoke-run the atheris harnesses without atheris: ~2000 seeded random inputs
each (the harness invariants: never raise, chunking-invariant SSE, streams
succeed only with an end marker, R-67)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fuzz_{name}_harness", FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


_PIECES = [
    b"data: ", b"[DONE]", b"\n", b"\r\n", b"\r", b"\n\n", b"event: error\n", b": c\n",
    b'{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}',
    b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
    b'{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}',
    b'{"error":{"message":"x","code":"insufficient_quota"}}', b'{"data":[{"embedding":[1,2]}]}',
    b'{"text":"t"}', b"\xef\xbb\xbf", b"\xff", b"\xc3", b"{", b"}", b"[", b"]", b'"', b"null",
]


def _inputs(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.3:
            out.append(rng.randbytes(rng.randrange(0, 200)))
        else:
            head = rng.randbytes(3)
            out.append(head + b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 25))))
    return out


@pytest.mark.parametrize("name", ["fuzz_sse", "fuzz_openai"])
def test_harness_smoke(name: str) -> None:
    mod = _load(name)
    for data in _inputs(seed=len(name), n=2000):
        mod.one_input(data)
