"""Smoke run of fuzz/fuzz_codecs.py without atheris (R-33, ARCHITECTURE rule 6).

About 1000 inputs per family: fixture bodies truncated, byte-flipped and with
JSON values swapped for wrong types, plus binary garbage. Invariant: every
attempt ends in a success or a classified failure fact; nothing raises.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import random
import sys
from typing import Any

import pytest
from _family_fixtures import FIXTURES, load, response_body

from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.types import FailureKind

_PATH = pathlib.Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_codecs.py"
_SPEC = importlib.util.spec_from_file_location("fuzz_codecs", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
fuzz_codecs = importlib.util.module_from_spec(_SPEC)
sys.modules["fuzz_codecs"] = fuzz_codecs
_SPEC.loader.exec_module(fuzz_codecs)

FAMILY_INDEX = {name: i for i, (name, _, _) in enumerate(fuzz_codecs.FAMILIES)}
_BUGS = ("TypeError", "AttributeError", "KeyError", "IndexError", "AssertionError")
_WRONG: tuple[Any, ...] = (None, 3, -1, 2.5, True, "x", [], {}, [1, "a"], {"a": None})


def _swap_types(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        return {k: (rng.choice(_WRONG) if rng.random() < 0.2 else _swap_types(v, rng))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_swap_types(v, rng) for v in value]
    return value


def _corpus(family: str) -> list[bytes]:
    bodies: list[bytes] = []
    for path in sorted((FIXTURES / family).glob("*.json")):
        case = load(family, path.stem)
        for resp in case.get("responses", []):
            bodies.append(response_body(family, resp))
    return bodies


def _mutate(body: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        return body[: rng.randrange(len(body) + 1)]
    if choice == 1 and body:
        data = bytearray(body)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:
        try:
            obj = json.loads(body)
        except ValueError:
            lines = body.split(b"\n")
            out = []
            for line in lines:
                if line.startswith(b"data: ") and rng.random() < 0.5:
                    try:
                        ev = json.loads(line[6:])
                        line = b"data: " + json.dumps(_swap_types(ev, rng)).encode()
                    except ValueError:
                        pass
                out.append(line)
            return b"\n".join(out)
        return json.dumps(_swap_types(obj, rng)).encode()
    if choice == 3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    return body + body[: rng.randrange(len(body) + 1)]


@pytest.mark.parametrize("family", list(FAMILY_INDEX))
def test_r33_codecs_never_raise_on_malformed_input(family: str) -> None:
    """R-33 / rule 6: truncated, mistyped or garbage bodies give facts, not exceptions."""
    rng = random.Random(f"smoke-{family}")
    corpus = _corpus(family)
    kinds: set[FailureKind] = set()
    successes = 0
    for i in range(1000):
        body = _mutate(rng.choice(corpus), rng)
        selector = rng.randrange(3)
        status_index = 0 if rng.random() < 0.7 else rng.randrange(len(fuzz_codecs.STATUSES))
        out = fuzz_codecs.run_one(FAMILY_INDEX[family], selector, status_index, body,
                                  rng.randrange(1, 64))
        assert isinstance(out, (AttemptSucceeded, AttemptFailed))
        if isinstance(out, AttemptFailed):
            kinds.add(out.kind)
            assert len(out.body_excerpt.encode()) <= 2048
            # the base guard turns codec exceptions into facts; a programming
            # error must not hide behind it
            assert not any(e in out.detail for e in _BUGS), out.detail
        else:
            successes += 1
        if i % 10 == 0:
            fuzz_codecs.one_input(bytes([FAMILY_INDEX[family], selector, status_index, 7]) + body)
    assert FailureKind.MALFORMED_BODY in kinds or FailureKind.STREAM_INCOMPLETE in kinds
