"""Golden-fixture runner shared by the non-OpenAI family codec tests.

A fixture (tests/wire/fixtures/<family>/<case>.json) holds a unified request,
the HTTP request(s) the codec must build, the provider response(s) and what
the attempt must produce. `run_case` drives a real `start_attempt` object
through them with any chunking of the response bodies.
"""

from __future__ import annotations

import base64
import json
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.wire.attempt import Attempt
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionChunk,
    CreateEmbeddingResponse,
    SpeechResponse,
    Transcription,
    parse_request,
)
from meshcore.wire.registry import start_attempt

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CONNECTORS = {
    "anthropic": ("anthropic.claude.v1", "sk-ant-test"),
    "gemini": ("google.gemini.v1", "AIza-test"),
    "cohere": ("cohere.nlp.v1", "co-test"),
    "elevenlabs": ("elevenlabs.tts.v1", "el-test"),
    "assemblyai": ("assemblyai.stt.v1", "aai-test"),
}
RESPONSE_ID = "chatcmpl-fixture"
MODEL_ID = "fixture.model"
CREATED = 1_700_000_000

Chunker = Callable[[bytes], Sequence[bytes]]


def whole(body: bytes) -> Sequence[bytes]:
    """Feed the body in one piece."""
    return [body] if body else []


def case_names(family: str, prefix: str = "") -> list[str]:
    """Fixture case names of a family (optionally filtered by prefix)."""
    return sorted(p.stem for p in (FIXTURES / family).glob(f"{prefix}*.json"))


def load(family: str, name: str) -> dict[str, Any]:
    """One fixture as a dict."""
    case: dict[str, Any] = json.loads((FIXTURES / family / f"{name}.json").read_text())
    case["_family"] = family
    return case


def response_body(family: str, resp: dict[str, Any]) -> bytes:
    """The body bytes of one scripted response."""
    if "sse_file" in resp:
        return (FIXTURES / family / resp["sse_file"]).read_bytes()
    if "b64" in resp:
        return base64.b64decode(resp["b64"])
    if "text" in resp:
        return str(resp["text"]).encode()
    return json.dumps(resp.get("json")).encode()


def provider_of(family: str, options: dict[str, Any]) -> ProviderConfig:
    """A provider config of the family's connector."""
    return ProviderConfig(id="fx", connector=CONNECTORS[family][0], options=dict(options))


def build_request(case: dict[str, Any]) -> Any:
    """The unified request of a fixture."""
    data = dict(case["request"])
    op = data.pop("operation", "chat")
    data.setdefault("model", case.get("model_name", ""))
    if "file_b64" in data:
        data["file"] = base64.b64decode(data.pop("file_b64"))
    return parse_request(op, data)


def new_attempt(family: str, case: dict[str, Any], request: Any = None) -> Attempt:
    """A fresh attempt object for the fixture."""
    model = ModelConfig(
        id=MODEL_ID, provider="fx", name=case["model_name"],
        max_output_tokens=case.get("max_output_tokens"),
    )
    return start_attempt(
        request if request is not None else build_request(case),
        model=model, provider=provider_of(family, case.get("options", {})),
        api_key=CONNECTORS[family][1], attempt_id="att-1", model_id=MODEL_ID,
        response_id=RESPONSE_ID, created=CREATED,
    )


@dataclass
class Run:
    """What one fixture run produced."""

    attempt: Attempt
    requests: list[Any] = field(default_factory=list)
    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    outcome: AttemptSucceeded | AttemptFailed | None = None


def drive(family: str, case: dict[str, Any], chunker: Chunker = whole) -> Run:
    """Drive an attempt through the fixture's scripted responses."""
    att = new_attempt(family, case)
    run = Run(att)
    for resp in case["responses"]:
        req = att.next_request()
        if req is None:
            break
        run.requests.append(req)
        att.receive_head(resp.get("status", 200), list(resp.get("headers", {}).items()))
        for piece in chunker(response_body(family, resp)):
            run.chunks.extend(att.receive_data(piece))
        run.chunks.extend(att.receive_end())
    extra = att.next_request()
    if extra is not None:
        run.requests.append(extra)
    run.outcome = att.outcome()
    return run


def check_requests(family: str, case: dict[str, Any], run: Run) -> None:
    """The built HTTP requests equal the fixture's expected ones."""
    expected = case["expect_requests"]
    assert len(run.requests) == len(expected), [r.url for r in run.requests]
    for req, exp in zip(run.requests, expected, strict=True):
        assert req.method == exp["method"]
        assert req.url == exp["url"]
        headers = {n.lower(): v for n, v in req.headers}
        for name, value in exp.get("headers", {}).items():
            assert headers.get(name) == value, (name, headers)
        if "json" in exp:
            assert json.loads(req.body) == exp["json"]
        if "body_b64" in exp:
            assert req.body == base64.b64decode(exp["body_b64"])
        if "delay_s" in exp:
            assert req.delay_s == exp["delay_s"]
        assert CONNECTORS[family][1] not in req.url  # keys never travel in URLs


def stream_summary(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    """Aggregate stream chunks: text deltas, merged tool calls, finish, usage."""
    deltas: list[str] = []
    tools: dict[int, dict[str, Any]] = {}
    finish = None
    usage = None
    for ch in chunks:
        assert ch.id == RESPONSE_ID and ch.model == MODEL_ID and ch.created == CREATED
        assert ch.object == "chat.completion.chunk"
        if ch.usage is not None:
            usage = {"prompt_tokens": ch.usage.prompt_tokens,
                     "completion_tokens": ch.usage.completion_tokens}
        for choice in ch.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            for tc in choice.delta.tool_calls or ():
                slot = tools.setdefault(tc.index, {"id": None, "type": "function",
                                                   "function": {"name": "", "arguments": ""}})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function is not None:
                    slot["function"]["name"] += tc.function.name or ""
                    slot["function"]["arguments"] += tc.function.arguments or ""
            if choice.finish_reason is not None:
                finish = choice.finish_reason
    return {"content_deltas": deltas, "content": "".join(deltas),
            "tool_calls": [tools[i] for i in sorted(tools)] or None,
            "finish_reason": finish, "usage": usage}


def check_outcome(case: dict[str, Any], run: Run) -> dict[str, Any]:
    """The fixture's `expect` block holds for the run; returns a summary."""
    exp = case["expect"]
    att = run.attempt
    out = run.outcome
    summary: dict[str, Any] = {}
    if att.stream:
        summary = stream_summary(run.chunks)
        if run.chunks:
            first = run.chunks[0]
            assert first.choices and first.choices[0].delta.role == "assistant"
        if "content_deltas" in exp:
            assert summary["content_deltas"] == exp["content_deltas"]
        assert att.partial_text == summary["content"]
    if exp["outcome"] == "failure":
        assert isinstance(out, AttemptFailed), out
        assert out.kind.value == exp["kind"], (out.kind, out.detail)
        assert len(out.body_excerpt.encode()) <= 2048
        if "content" in exp:
            assert summary["content"] == exp["content"]
        if att.stream:
            assert all(c.choices[0].finish_reason is None for c in run.chunks if c.choices)
        return summary
    assert isinstance(out, AttemptSucceeded), out
    if att.stream:
        for key in ("content", "finish_reason", "tool_calls", "usage"):
            if key in exp:
                assert summary[key] == exp[key], (key, summary[key])
        finals = [c for c in run.chunks if c.choices and c.choices[0].finish_reason]
        assert len(finals) == 1
        assert run.chunks.index(finals[0]) >= len(run.chunks) - 2
        return summary
    res = att.result
    if isinstance(res, ChatCompletion):
        msg = res.choices[0].message
        assert res.id == RESPONSE_ID and res.model == MODEL_ID
        summary = {"content": msg.content, "finish_reason": res.choices[0].finish_reason,
                   "tool_calls": ([t.model_dump() for t in msg.tool_calls]
                                  if msg.tool_calls else None),
                   "usage": None if res.usage is None else {
                       "prompt_tokens": res.usage.prompt_tokens,
                       "completion_tokens": res.usage.completion_tokens}}
        for key in ("content", "finish_reason", "tool_calls", "usage"):
            if key in exp:
                assert summary[key] == exp[key], (key, summary[key])
    elif isinstance(res, CreateEmbeddingResponse):
        assert [list(e.embedding) for e in res.data] == exp["embeddings"]
        assert [e.index for e in res.data] == list(range(len(res.data)))
        if "usage" in exp:
            assert res.usage.prompt_tokens == exp["usage"]["prompt_tokens"]
        summary = {"embeddings": [list(e.embedding) for e in res.data]}
    elif isinstance(res, SpeechResponse):
        assert res.content == base64.b64decode(exp["audio_b64"])
        summary = {"audio": res.content}
    elif isinstance(res, Transcription):
        assert res.text == exp["text"] and res.duration == exp["duration"]
        summary = {"text": res.text, "duration": res.duration}
    else:  # pragma: no cover - a fixture with an unknown result type
        raise AssertionError(f"unexpected result {res!r}")
    if "usage" in exp and exp["usage"] is not None and isinstance(res, ChatCompletion):
        assert isinstance(out, AttemptSucceeded) and out.usage is not None
        assert out.usage.prompt_tokens == exp["usage"]["prompt_tokens"]
    return summary


def split_at(body: bytes, cuts: Sequence[int]) -> list[bytes]:
    """`body` split at the given offsets (sorted, deduplicated, clipped)."""
    points = sorted({c % (len(body) + 1) for c in cuts}) if body else []
    pieces: list[bytes] = []
    prev = 0
    for p in points:
        pieces.append(body[prev:p])
        prev = p
    pieces.append(body[prev:])
    return [p for p in pieces if p]


def case_family(case: dict[str, Any]) -> str:
    """The family a loaded fixture belongs to."""
    return str(case["_family"])


def check_refinement(refine: Callable[[int | None, str], Any], case: dict[str, Any],
                     run: Run) -> None:
    """A failure fixture's expected class is what the family refinement says,
    or (refinement silent) what the plain R-33 status rules give."""
    exp = case["expect"]
    if exp["outcome"] != "failure" or "class" not in exp:
        return
    if exp["kind"] not in ("http_status", "stream_error"):
        return
    out = run.outcome
    assert isinstance(out, AttemptFailed)
    from meshcore.wire.classify import classify

    assert classify(out, CONNECTORS[case_family(case)][0]).outcome.value == exp["class"]
    status = out.status if out.kind.value == "http_status" else None
    refined = refine(status, out.body_excerpt)
    if refined is not None:
        assert refined.value == exp["class"], (refined, exp["class"])


def check_models_list(family: str, build: Any, parse: Any) -> None:
    """The models_list fixture: request shape and parsed entries."""
    case = load(family, "models_list")
    provider = provider_of(family, case.get("options", {}))
    req = build(provider, CONNECTORS[family][1])
    exp = case["expect_requests"][0]
    assert (req.method, req.url) == (exp["method"], exp["url"])
    assert {n.lower(): v for n, v in req.headers} == exp["headers"]
    models = parse(provider, json.dumps(case["responses"][0]["json"]).encode())
    for got, want in zip(models, case["expect"]["models"], strict=True):
        for key, value in want.items():
            assert getattr(got, key) == value, (key, got)


def same_outcome(a: Any, b: Any) -> bool:
    """Outcomes equal apart from the raw body excerpt (whose extent depends
    on how much of the body had arrived when the failure was seen)."""
    from dataclasses import replace

    if isinstance(a, AttemptFailed) and isinstance(b, AttemptFailed):
        return replace(a, body_excerpt="") == replace(b, body_excerpt="")
    return bool(a == b)
