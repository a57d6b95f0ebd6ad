"""Smoke-run fuzz/fuzz_response.py without atheris: seeded random responses
built from HTTP fragments (the harness's invariants: only protocol errors,
and the same answer however the bytes are cut)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"

_PIECES = [
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 404 Not Found\r\n", b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 204 \r\n", b"HTTP/1.1 101 Switching\r\n", b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n",
    b"Upgrade: x\r\nConnection: upgrade\r\n", b"X-A:  v \t\r\n", b" folded\r\n", b"\r\n",
    b"\n", b"5\r\nhello\r\n", b"0\r\n\r\n", b"3;ext=1\r\nabc\r\n", b"T: t\r\n\r\n", b"hello",
    b"\x00", b"\xff", b"zz\r\n", b"Content-Length: 1x\r\n",
]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_response_harness",
                                                  FUZZ / "fuzz_response.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_response_harness_smoke() -> None:
    mod = _load()
    rng = random.Random(11)
    for _ in range(3000):
        if rng.random() < 0.2:
            data = rng.randbytes(rng.randrange(0, 120))
        else:
            data = bytes([rng.randrange(256)]) + b"".join(
                rng.choice(_PIECES) for _ in range(rng.randrange(0, 12)))
        mod.one_input(data)
