"""The OpenAI per-attempt object: chunking invariance, malformed input never
raises (ARCHITECTURE rule 6), failure facts (R-33, R-68, R-70), auth (R-73)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _openai_helpers import FIXTURES, make_attempt, run_stream, stream_attempt
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.types import FailureKind, OutcomeClass
from meshcore.wire.classify import classify

TRANSCRIPTS = {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.sse"))}


def _signature(data: bytes, cuts: list[int]) -> tuple[object, ...]:
    a, chunks = run_stream(data, cuts)
    return (tuple(c.model_dump_json() for c in chunks), a.outcome(), a.partial_text)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(TRANSCRIPTS)), cuts=st.lists(st.integers(0, 2000), max_size=40))
def test_random_chunking_identical_output_r67(name: str, cuts: list[int]) -> None:
    data = TRANSCRIPTS[name]
    assert _signature(data, cuts) == _signature(data, [])


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_byte_by_byte_identical_output(name: str) -> None:
    data = TRANSCRIPTS[name]
    assert _signature(data, list(range(len(data)))) == _signature(data, [])


def _run_nonstream(body: bytes, status: int = 200, op: str = "chat") -> AttemptFailed | AttemptSucceeded:
    table: dict[str, dict[str, Any]] = {"chat": {"messages": [{"role": "user", "content": "x"}]},
           "embeddings": {"input": "x"}, "images": {"prompt": "x"},
           "transcription": {"file": b"x"}, "speech": {"input": "x"}}
    inp = table[op]
    a = make_attempt(inp, operation=op)
    assert a.next_request() is not None
    a.receive_head(status, [("content-type", "application/json")])
    a.receive_data(body)
    a.receive_end()
    return a.outcome()


GOOD = json.loads((FIXTURES / "chat_response_text.json").read_text())


@pytest.mark.parametrize("body", [
    b"", b"{", b"null", b"[]", b'"x"', b'{"choices": 3}', b'{"choices": []}',
    b'{"choices": [{"message": "hi"}]}', b'{"choices": [{"message": {"content": 5}}]}',
    b'{"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": "many"}}',
    b'{"choices": [{"message": {"content": "a", "tool_calls": [{"function": 1}]}}]}',
    json.dumps(GOOD)[:60].encode(), b"\xff\xfe\x00", b"[" * 5000,
])
def test_malformed_2xx_body_is_malformed_fact_r33(body: bytes) -> None:
    fact = _run_nonstream(body)
    assert isinstance(fact, AttemptFailed) and fact.kind is FailureKind.MALFORMED_BODY
    assert classify(fact, "openai.llm.v1").outcome is OutcomeClass.SERVER_ERROR
    assert len(fact.body_excerpt.encode()) <= 2048 * 3


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=400), op=st.sampled_from(["chat", "embeddings", "images",
                                                          "transcription"]),
       status=st.sampled_from([200, 201, 400, 429, 500, 503]))
def test_random_bytes_never_raise_nonstream(body: bytes, op: str, status: int) -> None:
    fact = _run_nonstream(body, status, op)
    assert isinstance(fact, (AttemptFailed, AttemptSucceeded))
    if isinstance(fact, AttemptFailed):
        assert classify(fact, "openai.llm.v1").outcome is not OutcomeClass.SUCCESS
    else:
        assert 200 <= status < 300


_JUNK_LINES = st.sampled_from([
    b'data: {"choices": [{"delta": {"content": "a"}}]}', b"data: {", b"data: []",
    b'data: {"choices": [{"delta": {"content": 7}}]}', b'data: {"choices": "x"}',
    b'data: {"error": {"message": "boom"}}', b"event: error", b"data: [DONE]", b"",
    b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}', b"data: \xff",
    b'data: {"choices": [], "usage": {"prompt_tokens": -1}}', b": c", b"retry: x",
])


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(_JUNK_LINES, max_size=12), tail=st.binary(max_size=40),
       cuts=st.lists(st.integers(0, 600), max_size=8))
def test_random_streams_never_raise(lines: list[bytes], tail: bytes, cuts: list[int]) -> None:
    data = b"\n".join(lines) + b"\n" + tail
    a, _chunks = run_stream(data, cuts)
    fact = a.outcome()
    assert a.done
    if isinstance(fact, AttemptSucceeded):
        # success only with an end marker or finish reason
        assert b"[DONE]" in data or b"finish_reason" in data
    else:
        assert classify(fact, "openai.llm.v1").outcome is not OutcomeClass.SUCCESS
    assert a.outcome() == fact


def test_non_2xx_stream_is_http_status_with_excerpt_and_headers_r70() -> None:
    a = make_attempt({"messages": [{"role": "user", "content": "x"}], "stream": True})
    assert a.next_request() is not None
    a.receive_head(503, [("Retry-After", "4"), ("X-Request-Id", "r"),
                         ("x-ratelimit-remaining-tokens", "0"), ("set-cookie", "s")])
    assert a.receive_data(b'{"error": {"message": "overloaded"}}' + b" " * 5000) == []
    a.receive_end()
    fact = a.outcome()
    assert isinstance(fact, AttemptFailed) and fact.kind is FailureKind.HTTP_STATUS
    assert fact.status == 503
    assert fact.headers == (("retry-after", "4"), ("x-ratelimit-remaining-tokens", "0"))
    assert len(fact.body_excerpt) <= 2048 and "overloaded" in fact.body_excerpt
    c = classify(fact, "openai.llm.v1")
    assert c.outcome is OutcomeClass.SERVER_ERROR and c.retry_after_s == 4.0


def test_json_error_on_2xx_stream_is_stream_error() -> None:
    a = stream_attempt()
    a.receive_data(b'{"error": {"message": "bad things"}}')
    a.receive_end()
    fact = a.outcome()
    assert isinstance(fact, AttemptFailed) and fact.kind is FailureKind.STREAM_ERROR


def test_driver_fail_keeps_partial_usage_and_chars_r42() -> None:
    a = stream_attempt()
    a.receive_data(b'data: {"choices": [{"index": 0, "delta": {"content": "abcdef"}}]}\n\n')
    assert a.has_content and a.partial_text == "abcdef"
    fact = a.fail(FailureKind.STREAM_GAP, "gap")
    assert fact.output_chars == 6 and fact.kind is FailureKind.STREAM_GAP
    assert a.done and a.next_request() is None and a.receive_data(b"data: x\n\n") == []
    assert a.outcome() == fact
    assert classify(fact, "openai.llm.v1", committed=True).outcome is \
        OutcomeClass.STREAM_INTERRUPTED


def test_first_chunk_gets_assistant_role_r67() -> None:
    a = stream_attempt()
    out = a.receive_data(b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n')
    assert out[0].choices[0].delta.role == "assistant" and out[0].has_content
    out = a.receive_data(b'data: {"choices": [{"index": 0, "delta": {"content": "y"}}]}\n\n')
    assert out[0].choices[0].delta.role is None


def test_stream_without_content_but_content_filter_is_blocked() -> None:
    data = (b'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}, '
            b'"finish_reason": "content_filter"}]}\n\ndata: [DONE]\n\n')
    a, _ = run_stream(data)
    fact = a.outcome()
    assert isinstance(fact, AttemptFailed) and fact.kind is FailureKind.CONTENT_BLOCKED


def test_outcome_before_end_is_incomplete() -> None:
    a = stream_attempt()
    a.receive_data(b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n')
    fact = a.outcome()
    assert isinstance(fact, AttemptFailed) and fact.kind is FailureKind.STREAM_INCOMPLETE


def test_receive_end_without_head_is_connection_failure() -> None:
    a = make_attempt({"messages": [{"role": "user", "content": "x"}]})
    a.next_request()
    a.receive_end()
    fact = a.outcome()
    assert isinstance(fact, AttemptFailed) and fact.kind is FailureKind.CONNECTION


@pytest.mark.parametrize(("connector", "key", "options", "expected"), [
    ("openai.llm.v1", "k", {}, [("authorization", "Bearer k")]),
    ("vllm.local.v1", None, {}, []),
    ("vllm.local.v1", "k", {}, [("authorization", "Bearer k")]),
    ("openai.compatible.v1", "k", {"auth_header": "Authorization"},
     [("authorization", "Bearer k")]),
    ("openai.compatible.v1", "k", {"auth_header": "X-Key"}, [("x-key", "k")]),
])
def test_auth_styles_r73(connector: str, key: str | None, options: dict[str, str],
                         expected: list[tuple[str, str]]) -> None:
    base = "http://127.0.0.1:9/v1" if connector == "openai.compatible.v1" else None
    a = make_attempt({"messages": [{"role": "user", "content": "x"}]}, connector=connector,
                     api_key=key, options=options, base_url=base)
    req = a.next_request()
    assert req is not None
    assert [h for h in req.headers if h[0] != "content-type"] == expected


def test_transcription_multipart_is_deterministic() -> None:
    audio = b"RIFF\x00\x01--meshcore\r\n"
    inp = {"file": ("clip.wav", audio), "language": "fr", "temperature": 0.0,
           "response_format": "json", "extra_body": {"timestamp_granularities": ["word"]}}
    r1 = make_attempt(inp, operation="transcription", connector="groq.api.v1",
                      model_name="whisper-large-v3", attempt_id="A").next_request()
    r2 = make_attempt(inp, operation="transcription", connector="groq.api.v1",
                      model_name="whisper-large-v3", attempt_id="A").next_request()
    r3 = make_attempt(inp, operation="transcription", connector="groq.api.v1",
                      model_name="whisper-large-v3", attempt_id="B").next_request()
    assert r1 is not None and r2 is not None and r3 is not None
    assert r1 == r2 and r1.body != r3.body
    assert r1.url == "https://api.groq.com/openai/v1/audio/transcriptions"
    ctype = dict(r1.headers)["content-type"]
    boundary = ctype.split("boundary=", 1)[1]
    assert ctype.startswith("multipart/form-data; boundary=")
    parts = r1.body.split(b"--" + boundary.encode())
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    fields = {}
    for part in parts[1:-1]:
        head, _, value = part.partition(b"\r\n\r\n")
        name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
        fields[name] = (head, value[:-2])
    assert fields["model"][1] == b"whisper-large-v3" and fields["language"][1] == b"fr"
    assert fields["temperature"][1] == b"0.0"
    assert fields["timestamp_granularities"][1] == b'["word"]'
    assert fields["file"][1] == audio
    assert b'filename="clip.wav"' in fields["file"][0]
    assert b"Content-Type: audio/wav" in fields["file"][0]
