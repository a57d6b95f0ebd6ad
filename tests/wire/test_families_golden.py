"""Cohere v2, ElevenLabs and AssemblyAI codecs: golden fixtures, chunking
invariance, error refinements and catalogue calls (R-67, R-72, R-74, R-76).
One parametrised module serves the three families, whose checks are alike."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
from _family_fixtures import (
    case_names,
    check_models_list,
    check_outcome,
    check_refinement,
    check_requests,
    drive,
    load,
    provider_of,
    same_outcome,
    split_at,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.wire import assemblyai, cohere, elevenlabs
from meshcore.wire.registry import build_models_request, parse_models_response

MODULES: dict[str, ModuleType] = {
    "cohere": cohere, "elevenlabs": elevenlabs, "assemblyai": assemblyai,
}
CASES = [
    (family, name)
    for family in MODULES
    for name in case_names(family)
    if name != "models_list"
]
# a listing each family must reject (AssemblyAI has no models endpoint, R-73)
BAD_LISTING = {"cohere": b'{"models": 1}', "elevenlabs": b'{"detail": "x"}'}


@pytest.mark.parametrize(("family", "name"), CASES)
def test_r74_fixture_roundtrip(family: str, name: str) -> None:
    """R-74: golden HTTP request(s) and parsed outcome of each fixture."""
    case = load(family, name)
    run = drive(family, case)
    check_requests(family, case, run)
    check_outcome(case, run)
    refine: Callable[..., object] = MODULES[family].classify_refine
    check_refinement(refine, case, run)


@pytest.mark.parametrize(("family", "name"), CASES)
@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_r67_chunking_invariant(family: str, name: str, cuts: list[int]) -> None:
    """Any split of the response bodies yields the same output and outcome."""
    case = load(family, name)
    ref = drive(family, case)
    run = drive(family, case, lambda b: split_at(b, cuts))
    assert [c.model_dump() for c in run.chunks] == [c.model_dump() for c in ref.chunks]
    assert run.attempt.result == ref.attempt.result
    assert same_outcome(run.outcome, ref.outcome)


@pytest.mark.parametrize("family", sorted(BAD_LISTING))
def test_r72_models_list(family: str) -> None:
    """R-72: catalogue request and parsing; a malformed list is a ValueError."""
    check_models_list(family, build_models_request, parse_models_response)
    with pytest.raises(ValueError):
        parse_models_response(provider_of(family, {}), BAD_LISTING[family])
