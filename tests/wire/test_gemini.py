"""Gemini codec: golden fixtures, chunking invariance, key placement (R-74, R-76)."""

from __future__ import annotations

import json

import pytest
from _family_fixtures import (
    case_names,
    check_models_list,
    check_outcome,
    check_refinement,
    check_requests,
    drive,
    load,
    new_attempt,
    same_outcome,
    split_at,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.events import AttemptFailed
from meshcore.types import FailureKind
from meshcore.wire import gemini
from meshcore.wire.registry import build_models_request, parse_models_response

FAMILY = "gemini"
CALLS = [n for n in case_names(FAMILY) if n != "models_list"]
STREAMS = case_names(FAMILY, "stream_")


@pytest.mark.parametrize("name", CALLS)
def test_r74_gemini_fixture_roundtrip(name: str) -> None:
    """R-74: golden HTTP request and parsed outcome of each fixture."""
    case = load(FAMILY, name)
    run = drive(FAMILY, case)
    check_requests(FAMILY, case, run)
    check_outcome(case, run)
    check_refinement(gemini.classify_refine, case, run)


@pytest.mark.parametrize("name", STREAMS)
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_r67_gemini_stream_chunking_invariant(name: str, cuts: list[int]) -> None:
    """R-67: any split of the SSE body yields the same chunks and outcome."""
    case = load(FAMILY, name)
    ref = drive(FAMILY, case)
    run = drive(FAMILY, case, lambda b: split_at(b, cuts))
    assert [c.model_dump() for c in run.chunks] == [c.model_dump() for c in ref.chunks]
    assert same_outcome(run.outcome, ref.outcome)


def test_r72_gemini_models_list() -> None:
    """R-72: catalogue request (key in header only) and parsing."""
    check_models_list(FAMILY, build_models_request, parse_models_response)


def test_r74_gemini_key_never_in_url() -> None:
    """R-74: the API key travels only in x-goog-api-key, for every operation."""
    for name in ("chat_basic", "stream_text", "embeddings"):
        att = new_attempt(FAMILY, load(FAMILY, name))
        req = att.next_request()
        assert req is not None
        assert "AIza-test" not in req.url and "key=" not in req.url
        assert ("x-goog-api-key", "AIza-test") in req.headers


def test_r33_gemini_embedding_count_mismatch_is_malformed() -> None:
    """R-33: a 2xx embeddings body that does not fit the request is a malformed body."""
    case = load(FAMILY, "embeddings")
    case["responses"][0]["json"] = {"embeddings": [{"values": [0.1]}]}
    run = drive(FAMILY, case)
    assert isinstance(run.outcome, AttemptFailed)
    assert run.outcome.kind == FailureKind.MALFORMED_BODY


def test_r74_gemini_tool_call_ids_are_stable() -> None:
    """Gemini has no call ids: they are numbered call_<n> in order."""
    case = load(FAMILY, "chat_tools_roundtrip")
    body = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "a", "args": {}}},
        {"functionCall": {"name": "b", "args": {"x": 1}}}]},
        "finishReason": "STOP"}]}
    case["responses"][0]["json"] = body
    run = drive(FAMILY, case)
    res = run.attempt.result
    assert res is not None
    calls = res.choices[0].message.tool_calls  # type: ignore[union-attr]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_0", "a", {}), ("call_1", "b", {"x": 1})]
