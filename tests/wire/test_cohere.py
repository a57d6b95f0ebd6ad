"""Cohere v2 codec: golden fixtures, chunking invariance, refinements (R-74, R-76)."""

from __future__ import annotations

import pytest
from _family_fixtures import (
    case_names,
    check_outcome,
    check_refinement,
    check_requests,
    drive,
    load,
    same_outcome,
    split_at,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.wire import cohere

FAMILY = "cohere"
CALLS = [n for n in case_names(FAMILY) if n != "models_list"]


@pytest.mark.parametrize("name", CALLS)
def test_r74_cohere_fixture_roundtrip(name: str) -> None:
    """R-74: golden HTTP request(s) and parsed outcome of each fixture."""
    case = load(FAMILY, name)
    run = drive(FAMILY, case)
    check_requests(FAMILY, case, run)
    check_outcome(case, run)
    check_refinement(cohere.classify_refine, case, run)


@pytest.mark.parametrize("name", CALLS)
@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_r67_cohere_chunking_invariant(name: str, cuts: list[int]) -> None:
    """Any split of the response bodies yields the same output and outcome."""
    case = load(FAMILY, name)
    ref = drive(FAMILY, case)
    run = drive(FAMILY, case, lambda b: split_at(b, cuts))
    assert [c.model_dump() for c in run.chunks] == [c.model_dump() for c in ref.chunks]
    assert run.attempt.result == ref.attempt.result
    assert same_outcome(run.outcome, ref.outcome)


def test_r72_cohere_models_list() -> None:
    """R-72: catalogue request and parsing; a malformed list is a ValueError."""
    from _family_fixtures import check_models_list, provider_of

    from meshcore.wire.registry import build_models_request, parse_models_response

    check_models_list(FAMILY, build_models_request, parse_models_response)
    with pytest.raises(ValueError):
        parse_models_response(provider_of(FAMILY, {}), b'{"models": 1}' if FAMILY == "cohere"
                              else b'{"detail": "x"}')
