"""Anthropic Messages codec: golden fixtures, chunking invariance, malformed input (R-74)."""

from __future__ import annotations

import json

import pytest
from _family_fixtures import (
    case_names,
    check_outcome,
    check_requests,
    drive,
    load,
    new_attempt,
    provider_of,
    same_outcome,
    split_at,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.events import AttemptFailed
from meshcore.types import FailureKind, OutcomeClass
from meshcore.wire import anthropic
from meshcore.wire.registry import build_models_request, parse_models_response

FAMILY = "anthropic"
CALLS = [n for n in case_names(FAMILY) if n != "models_list"]
STREAMS = case_names(FAMILY, "stream_")


@pytest.mark.parametrize("name", CALLS)
def test_r74_anthropic_fixture_roundtrip(name: str) -> None:
    """R-74: the request matches the golden HTTP request and the response parses as expected."""
    case = load(FAMILY, name)
    run = drive(FAMILY, case)
    check_requests(FAMILY, case, run)
    check_outcome(case, run)
    if case["expect"]["outcome"] == "failure" and "class" in case["expect"]:
        assert isinstance(run.outcome, AttemptFailed)
        refined = anthropic.classify_refine(run.outcome.status, run.outcome.body_excerpt)
        if case["expect"]["kind"] in ("http_status", "stream_error"):
            expected = OutcomeClass(case["expect"]["class"])
            default_ok = refined is None and expected in (
                OutcomeClass.RATE_LIMITED, OutcomeClass.AUTH, OutcomeClass.MODEL_NOT_FOUND)
            assert refined == expected or default_ok, (refined, expected)


@pytest.mark.parametrize("name", STREAMS)
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_r67_anthropic_stream_chunking_invariant(name: str, cuts: list[int]) -> None:
    """R-67: any split of the SSE body yields the same chunks and outcome."""
    case = load(FAMILY, name)
    ref = drive(FAMILY, case)
    run = drive(FAMILY, case, lambda b: split_at(b, cuts))
    assert [c.model_dump() for c in run.chunks] == [c.model_dump() for c in ref.chunks]
    assert same_outcome(run.outcome, ref.outcome)


def test_r74_anthropic_models_list() -> None:
    """R-72: the catalogue request and its parsing."""
    case = load(FAMILY, "models_list")
    req = build_models_request(provider_of(FAMILY, {}), "sk-ant-test")
    exp = case["expect_requests"][0]
    assert (req.method, req.url) == (exp["method"], exp["url"])
    assert dict(req.headers) == exp["headers"]
    body = json.dumps(case["responses"][0]["json"]).encode()
    models = parse_models_response(provider_of(FAMILY, {}), body)
    assert [{"id": m.id, "name": m.name} for m in models] == case["expect"]["models"]
    with pytest.raises(ValueError):
        parse_models_response(provider_of(FAMILY, {}), b'{"data": 3}')


def test_r72_anthropic_529_is_server_error_whatever_the_body() -> None:
    """R-72: Anthropic 529 -> server_error even with an unparsable body."""
    assert anthropic.classify_refine(529, "<html>") == OutcomeClass.SERVER_ERROR
    assert anthropic.classify_refine(418, "not json") is None


def test_r70_anthropic_drops_inexpressible_parameters() -> None:
    """R-70: seed, penalties and response_format are dropped and reported."""
    case = load(FAMILY, "chat_basic")
    case["request"] = dict(case["request"], frequency_penalty=0.5,
                           response_format={"type": "json_object"})
    att = new_attempt(FAMILY, case)
    req = att.next_request()
    assert req is not None
    body = json.loads(req.body)
    assert "seed" not in body and "frequency_penalty" not in body
    assert isinstance(att, anthropic.AnthropicAttempt)
    assert {"seed", "frequency_penalty", "response_format"} <= set(att.dropped)


def test_r67_anthropic_finish_only_at_message_stop() -> None:
    """R-67/R-68: a stream cut after message_delta (before message_stop) is incomplete."""
    case = load(FAMILY, "stream_text")
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":3,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":2}}\n\n'
    )
    att = new_attempt(FAMILY, case)
    assert att.next_request() is not None
    att.receive_head(200, [("content-type", "text/event-stream")])
    chunks = att.receive_data(body) + att.receive_end()
    out = att.outcome()
    assert isinstance(out, AttemptFailed) and out.kind == FailureKind.STREAM_INCOMPLETE
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert out.usage is not None and out.usage.completion_tokens == 2
