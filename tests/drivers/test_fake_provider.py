"""Tests of `FakeProviderServer` and `modelmesh fake-provider` (SPEC R-119, API.md section 4).

Every network call has a timeout; waits use bounded polls, never bare sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.fake_provider import STEP_KEYS, FakeProviderServer, FaultStep, Plan, load_plan
from adapters.fake_provider.cli import main as cli_main

TIMEOUT = 5.0
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


def connect(srv: FakeProviderServer, timeout: float = TIMEOUT) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)


def post(
    srv: FakeProviderServer,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, dict[str, str], bytes]:
    conn = connect(srv, timeout)
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, raw, {"content-type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        names = [k.lower() for k, _ in resp.getheaders()]
        assert len(names) == len(set(names)), f"duplicate response headers: {names}"
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def get(srv: FakeProviderServer, path: str) -> tuple[int, bytes]:
    conn = connect(srv)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def chat(srv: FakeProviderServer, model: str = "m1", **extra: Any) -> tuple[int, dict[str, str], bytes]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}
    return post(srv, "/v1/chat/completions", body)


def sse_data(raw: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in raw.decode().splitlines() if line.startswith("data: ")]


def sse_events(raw: bytes) -> list[str]:
    return [line[len("event: ") :] for line in raw.decode().splitlines() if line.startswith("event: ")]


def openai_text(payloads: list[str]) -> str:
    out = []
    for p in payloads:
        if p == "[DONE]":
            continue
        for choice in json.loads(p).get("choices", []):
            out.append(choice["delta"].get("content") or "")
    return "".join(out)


def timed_stream_lines(resp: http.client.HTTPResponse) -> list[tuple[float, bytes]]:
    """Read an SSE response line by line, noting when each non-empty line arrived."""
    start = time.monotonic()
    lines = []
    while True:
        line = resp.readline()
        if not line:
            return lines
        if line.strip():
            lines.append((time.monotonic() - start, line.strip()))


@contextlib.contextmanager
def stream_request(
    srv: FakeProviderServer, model: str = "m1"
) -> Iterator[http.client.HTTPResponse]:
    conn = connect(srv)
    try:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"content-type": "application/json"})
        yield conn.getresponse()
    finally:
        conn.close()


# ---------------------------------------------------------------- plan parsing


def test_plan_validation_rejects_unknown_key_naming_it_r119() -> None:
    with pytest.raises(ValueError, match="'stauts'"):
        Plan.parse([{"stauts": 503}])
    with pytest.raises(ValueError, match="'retry_afterr'"):
        Plan.parse({"gpt": [{"status": 429}, {"retry_afterr": 1}]})


@pytest.mark.parametrize(
    ("key", "value"),
    [("status", "503"), ("status", 99), ("status", True), ("delay", -1), ("delay", "1s"),
     ("silent", "yes"), ("reset", 1), ("headers", ["x"]), ("cut_after_chunks", 1.5),
     ("cut_after_chunks", -1), ("stream_error", True), ("content", 5), ("code", 1),
     ("usage", {"tokens": 3}), ("retry_after", -2), ("retry_after_ms", "x"),
     ("body", {"a": {1, 2}})],
)
def test_plan_validation_rejects_wrong_types_naming_the_key_r119(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=repr(key)):
        Plan.parse([{key: value}])
    with pytest.raises(ValueError, match=repr(key)):
        FaultStep(**{key: value})


def test_plan_shapes_r119() -> None:
    assert Plan.parse(None).step("x", 0) == FaultStep()
    assert Plan.parse([]).step("x", 3) == FaultStep()
    plan = Plan.parse({"a": [{"status": 503}], "*": {"status": 429}, "b": None})
    assert plan.step("a", 0).status == 503
    assert plan.step("z", 5).status == 429
    assert plan.step(None, 0).status == 429
    assert plan.step("b", 0) == FaultStep()
    with pytest.raises(ValueError, match="'a'"):
        Plan.parse({"a": 5})
    assert Plan.parse([FaultStep(status=500)]).step("m", 0).status == 500


valid_steps = st.fixed_dictionaries(
    {},
    optional={
        "status": st.integers(200, 599),
        "retry_after": st.one_of(st.integers(0, 100), st.floats(0, 100), st.text(max_size=5)),
        "delay": st.floats(0, 5),
        "silent": st.booleans(),
        "cut_after_chunks": st.integers(0, 10),
        "content": st.text(max_size=20),
        "headers": st.dictionaries(st.sampled_from(["x-a", "x-b"]), st.text(max_size=4)),
        "usage": st.fixed_dictionaries({"prompt_tokens": st.integers(0, 50)}),
    },
)


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(valid_steps, min_size=1, max_size=5), index=st.integers(0, 20))
def test_plan_list_last_step_repeats_r119(steps: list[dict[str, Any]], index: int) -> None:
    plan = Plan.parse(steps)
    expected = FaultStep.from_dict(steps[min(index, len(steps) - 1)])
    assert plan.step("any", index) == expected
    assert plan.step("other", index) == expected


@settings(max_examples=50, deadline=None)
@given(key=st.text(min_size=1, max_size=12).filter(lambda k: k not in STEP_KEYS))
def test_plan_any_unknown_key_is_named_r119(key: str) -> None:
    with pytest.raises(ValueError) as info:
        Plan.parse([{"status": 200, key: 1}])
    assert repr(key) in str(info.value)


def test_load_plan_json_and_yaml(tmp_path: Path) -> None:
    j = tmp_path / "p.json"
    j.write_text(json.dumps([{"status": 503, "retry_after": 2}, {}]))
    assert load_plan(j).step("m", 0).retry_after == 2
    y = tmp_path / "p.yaml"
    y.write_text("gpt-4o:\n  - status: 429\n    retry_after_ms: 1500\n'*':\n  - {}\n")
    plan = load_plan(y)
    assert plan.step("gpt-4o", 0).retry_after_ms == 1500
    assert plan.step("other", 0) == FaultStep()
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_plan(bad)


# ---------------------------------------------------------------- lifecycle


def test_lifecycle_url_and_idempotent_stop() -> None:
    srv = FakeProviderServer(format="gemini")
    with pytest.raises(RuntimeError):
        _ = srv.url
    srv.start()
    assert srv.url == f"http://127.0.0.1:{srv.port}"
    assert srv.base_url == srv.url + "/v1beta"
    with pytest.raises(RuntimeError):
        srv.start()
    srv.stop()
    srv.stop()
    with socket.socket() as s:
        s.settimeout(TIMEOUT)
        assert s.connect_ex(("127.0.0.1", srv.port)) != 0
    with pytest.raises(ValueError, match="cohere"):
        FakeProviderServer(format="cohere")


def test_base_urls_per_family() -> None:
    for fmt, suffix in (("openai", "/v1"), ("anthropic", ""), ("gemini", "/v1beta")):
        with FakeProviderServer(format=fmt) as srv:
            assert srv.base_url == srv.url + suffix


# ---------------------------------------------------------------- step keys


def test_status_gives_family_error_body_r33() -> None:
    with FakeProviderServer(plan=[{"status": 503}, {"status": 429, "code": "insufficient_quota",
                                                    "type": "insufficient_quota"},
                                  {"status": 400, "code": "context_length_exceeded"},
                                  {"status": 400, "code": "content_filter", "message": "no"},
                                  {}]) as srv:
        status, _, body = chat(srv)
        assert status == 503
        assert json.loads(body)["error"]["type"] == "server_error"
        status, _, body = chat(srv)
        err = json.loads(body)["error"]
        assert (status, err["code"], err["type"]) == (429, "insufficient_quota", "insufficient_quota")
        status, _, body = chat(srv)
        err = json.loads(body)["error"]
        assert (status, err["code"]) == (400, "context_length_exceeded")
        assert "context length" in err["message"]
        status, _, body = chat(srv)
        assert json.loads(body)["error"] == {"message": "no", "type": "invalid_request_error",
                                             "param": None, "code": "content_filter"}
        assert chat(srv)[0] == 200
        assert chat(srv)[0] == 200  # the last step repeats


def test_error_bodies_of_other_families_r74() -> None:
    with FakeProviderServer(plan=[{"status": 529}], format="anthropic") as srv:
        status, _, body = post(srv, "/v1/messages", {"model": "c", "max_tokens": 5,
                                                     "messages": []})
        assert status == 529
        assert json.loads(body) == {"type": "error", "error": {
            "type": "overloaded_error", "message": "fake provider: Overloaded (529)"}}
    with FakeProviderServer(plan=[{"status": 429}], format="gemini") as srv:
        status, _, body = post(srv, "/v1beta/models/g:generateContent", {"contents": []})
        assert status == 429
        err = json.loads(body)["error"]
        assert (err["code"], err["status"]) == (429, "RESOURCE_EXHAUSTED")


def test_retry_after_and_headers_r38_r55() -> None:
    plan = [{"status": 429, "retry_after": 2},
            {"status": 429, "retry_after": 1.5, "retry_after_ms": 1500},
            {"status": 503, "retry_after": "Wed, 21 Oct 2037 07:28:00 GMT"},
            {"headers": {"X-RateLimit-Remaining-Requests": "7", "x-ratelimit-limit-requests": 10,
                         "Content-Type": "application/vnd.test+json"}}]
    with FakeProviderServer(plan=plan) as srv:
        assert chat(srv)[1]["retry-after"] == "2"
        h = chat(srv)[1]
        assert (h["retry-after"], h["retry-after-ms"]) == ("1.5", "1500")
        assert chat(srv)[1]["retry-after"] == "Wed, 21 Oct 2037 07:28:00 GMT"
        status, h, _ = chat(srv)
        assert status == 200
        assert (h["x-ratelimit-remaining-requests"], h["x-ratelimit-limit-requests"]) == ("7", "10")
        assert h["content-type"] == "application/vnd.test+json"  # step headers override
        assert "retry-after" not in h


def test_delay_holds_the_response_head() -> None:
    with FakeProviderServer(plan={"slow": [{"delay": 0.3}]}) as srv:
        t0 = time.monotonic()
        assert chat(srv, "slow")[0] == 200
        slow = time.monotonic() - t0
        t0 = time.monotonic()
        assert chat(srv, "fast")[0] == 200
        assert slow >= 0.29 > time.monotonic() - t0 or slow > 2 * (time.monotonic() - t0)


def test_ttft_delay_pauses_after_role_chunk_r32() -> None:
    with FakeProviderServer(plan=[{"ttft_delay": 0.3}]) as srv:
        with stream_request(srv) as resp:
            lines = timed_stream_lines(resp)
        payloads = [json.loads(ln[6:]) for _, ln in lines if ln != b"data: [DONE]"]
        assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        first_content = next(t for t, ln in lines if b'"content":"Hello' in ln)
        assert first_content >= 0.29
        assert first_content - lines[0][0] >= 0.25  # the role chunk came before the pause


def test_chunk_delay_drips_each_chunk() -> None:
    with FakeProviderServer(plan=[{"chunk_delay": 0.1, "content": "a b c d"}]) as srv:
        with stream_request(srv) as resp:
            lines = timed_stream_lines(resp)
        content_times = [t for t, ln in lines if b'"content":"' in ln and b'"role"' not in ln]
        assert len(content_times) == 4
        gaps = [b - a for a, b in itertools.pairwise(content_times)]
        assert all(g >= 0.08 for g in gaps)
        # non-streaming bodies are dripped in pieces too
        t0 = time.monotonic()
        status, _, body = chat(srv)
        assert status == 200
        assert time.monotonic() - t0 >= 0.1 * (len(body) // 64)


def test_silent_never_answers_until_client_gives_up() -> None:
    with FakeProviderServer(plan=[{"silent": True}, {}]) as srv:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            post(srv, "/v1/chat/completions", {"model": "m"}, timeout=0.3)
        assert time.monotonic() - t0 < 2
        assert chat(srv, "m")[0] == 200  # the cursor of "m" moved on
        assert len(srv.requests) == 2


def test_stop_while_silent_request_pending_returns_quickly() -> None:
    srv = FakeProviderServer(plan=[{"silent": True}]).start()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
    try:
        body = b'{"model": "m"}'
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert srv.wait_for_requests(1, TIMEOUT)
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 2.0
        assert sock.recv(100) == b""  # closed without an answer
    finally:
        sock.close()


def test_stop_interrupts_long_delay() -> None:
    srv = FakeProviderServer(plan=[{"delay": 30}]).start()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
    try:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert srv.wait_for_requests(1, TIMEOUT)
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 2.0
    finally:
        sock.close()


def test_reset_closes_with_tcp_reset_r33() -> None:
    with FakeProviderServer(plan=[{"reset": True}]) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
        try:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                while sock.recv(100):
                    pass
        finally:
            sock.close()


def test_cut_after_chunks_closes_mid_stream_r68() -> None:
    with FakeProviderServer(plan=[{"cut_after_chunks": 2, "content": "one two three four"}]) as srv:
        with stream_request(srv) as resp, pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
        payloads = sse_data(info.value.partial)
        assert "[DONE]" not in payloads
        assert openai_text(payloads) == "one two "


def test_malformed_bodies_r33() -> None:
    with FakeProviderServer(plan=[{"malformed": True}]) as srv:
        status, _, body = chat(srv)
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(body)
        status, _, raw = chat(srv, stream=True)
        assert status == 200
        bad = 0
        for p in sse_data(raw):
            if p != "[DONE]":
                try:
                    json.loads(p)
                except ValueError:
                    bad += 1
        assert bad == 1


def test_literal_body_and_content_and_usage() -> None:
    plan = [{"body": {"whatever": [1, 2]}, "status": 202},
            {"content": "custom reply", "usage": {"prompt_tokens": 11, "completion_tokens": 7}}]
    with FakeProviderServer(plan=plan) as srv:
        status, _, body = chat(srv)
        assert (status, json.loads(body)) == (202, {"whatever": [1, 2]})
        status, _, body = chat(srv)
        data = json.loads(body)
        assert data["choices"][0]["message"]["content"] == "custom reply"
        assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_no_done_ends_cleanly_without_end_marker_r67() -> None:
    with FakeProviderServer(plan=[{"no_done": True}]) as srv:
        status, _, raw = chat(srv, "m", stream=True)
        payloads = sse_data(raw)
        assert status == 200
        assert "[DONE]" not in payloads
        assert openai_text(payloads) == "Hello from m"
    with FakeProviderServer(plan=[{"no_done": True}], format="anthropic") as srv:
        _, _, raw = post(srv, "/v1/messages", {"model": "c", "stream": True, "max_tokens": 5})
        assert "message_stop" not in sse_events(raw)
        assert "message_delta" in sse_events(raw)
    with FakeProviderServer(plan=[{"no_done": True}], format="gemini") as srv:
        _, _, raw = post(srv, "/v1beta/models/g:streamGenerateContent?alt=sse", {})
        assert sse_data(raw)
        assert all("finishReason" not in json.loads(p)["candidates"][0] for p in sse_data(raw))


def test_stream_error_events_r68() -> None:
    with FakeProviderServer(plan=[{"stream_error": 1}]) as srv:
        _, _, raw = chat(srv, stream=True)
        payloads = sse_data(raw)
        assert "[DONE]" not in payloads
        assert "error" in json.loads(payloads[-1])
        assert openai_text(payloads[:-1]) == "Hello "
    with FakeProviderServer(plan=[{"stream_error": 0}], format="anthropic") as srv:
        _, _, raw = post(srv, "/v1/messages", {"model": "c", "stream": True, "max_tokens": 5})
        assert sse_events(raw)[-1] == "error"
        assert "content_block_delta" not in sse_events(raw)
        assert json.loads(sse_data(raw)[-1])["error"]["type"] == "overloaded_error"


# ---------------------------------------------------------------- plans per model, recording


def test_per_model_plans_and_cursors_r119() -> None:
    plan = {"a": [{"status": 503}, {}], "b": [{"status": 429}], "*": [{"status": 500}, {}]}
    with FakeProviderServer(plan=plan) as srv:
        assert [chat(srv, "a")[0] for _ in range(3)] == [503, 200, 200]
        assert [chat(srv, "b")[0] for _ in range(2)] == [429, 429]
        assert [chat(srv, "c")[0] for _ in range(2)] == [500, 200]
        assert [chat(srv, "d")[0] for _ in range(2)] == [500, 200]  # own cursor
    with FakeProviderServer(plan={"a": [{"status": 503}]}) as srv:
        assert chat(srv, "other")[0] == 200  # no "*": success


def test_recording_reset_and_set_plan() -> None:
    with FakeProviderServer(plan=[{"status": 503}, {}]) as srv:
        t0 = time.monotonic()
        post(srv, "/v1/chat/completions?x=1", {"model": "m1", "messages": []},
             {"Authorization": "Bearer k", "X-Custom": "v"})
        chat(srv, "m2")
        assert get(srv, "/v1/models")[0] == 503  # models list has its own cursor
        reqs = srv.requests
        assert [r.model for r in reqs] == ["m1", "m2", None]
        first = reqs[0]
        assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", "x=1")
        assert first.headers["authorization"] == "Bearer k"
        assert first.headers["x-custom"] == "v"
        assert first.json == {"model": "m1", "messages": []}
        assert json.loads(first.body) == first.json
        assert t0 <= first.received_at <= reqs[1].received_at
        assert first.step.status == 503
        assert [r.model for r in srv.requests_for("m2")] == ["m2"]
        srv.reset()
        assert srv.requests == []
        assert chat(srv, "m1")[0] == 503  # cursor rewound
        srv.set_plan([{"status": 401}])
        assert chat(srv, "m1")[0] == 401
        with pytest.raises(ValueError, match="'nope'"):
            srv.set_plan([{"nope": 1}])


def test_keep_alive_two_requests_one_connection(server: FakeProviderServer) -> None:
    conn = connect(server)
    try:
        for model in ("k1", "k2"):
            conn.request("POST", "/v1/chat/completions", json.dumps({"model": model}),
                         {"content-type": "application/json"})
            resp = conn.getresponse()
            assert json.loads(resp.read())["model"] == model
    finally:
        conn.close()
    reqs = server.requests
    assert len(reqs) == 2
    assert reqs[0].connection_id == reqs[1].connection_id


def test_unknown_path_and_method_give_family_errors(server: FakeProviderServer) -> None:
    status, _, body = post(server, "/v1/nothing", {})
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    assert get(server, "/v1/chat/completions")[0] == 405
    with FakeProviderServer(format="gemini") as srv:
        status, body = get(srv, "/v1/models")
        assert status == 404
        assert json.loads(body)["error"]["status"] == "NOT_FOUND"


# ---------------------------------------------------------------- formats


def test_openai_chat_plain_and_stream_shapes_r67(server: FakeProviderServer) -> None:
    status, headers, body = chat(server, "gpt-x")
    data = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert data["object"] == "chat.completion" and data["model"] == "gpt-x"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Hello from gpt-x"}
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    status, headers, raw = chat(server, "gpt-x", stream=True,
                                stream_options={"include_usage": True})
    assert headers["content-type"] == "text/event-stream"
    payloads = sse_data(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-x" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert openai_text(payloads) == "Hello from gpt-x"
    _, _, raw = chat(server, stream=True)
    assert all("usage" not in json.loads(p) for p in sse_data(raw)[:-1])


def test_openai_other_endpoints_r105(server: FakeProviderServer) -> None:
    status, _, body = post(server, "/v1/embeddings", {"model": "e", "input": ["a", "b", "a"]})
    data = json.loads(body)["data"]
    assert status == 200 and len(data) == 3
    assert all(len(d["embedding"]) == 8 for d in data)
    assert data[0]["embedding"] == data[2]["embedding"] != data[1]["embedding"]
    _, _, again = post(server, "/v1/embeddings", {"model": "e", "input": "a"})
    assert json.loads(again)["data"][0]["embedding"] == data[0]["embedding"]

    _, _, body = post(server, "/v1/images/generations", {"model": "i", "prompt": "cat", "n": 2})
    assert len(json.loads(body)["data"]) == 2 and "url" in json.loads(body)["data"][0]

    status, headers, audio = post(server, "/v1/audio/speech",
                                  {"model": "tts", "input": "hi", "voice": "alloy"})
    assert status == 200 and headers["content-type"] == "audio/mpeg" and audio

    boundary = "XyZ"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\nRIFF....\r\n--{boundary}--\r\n").encode()
    status, _, body = post(server, "/v1/audio/transcriptions", form,
                           {"content-type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200 and json.loads(body) == {"text": "Hello from whisper"}
    assert server.requests[-1].model == "whisper"

    status, body = get(server, "/v1/models")
    listing = json.loads(body)
    assert status == 200 and listing["object"] == "list"
    assert all(m["object"] == "model" for m in listing["data"])


def test_anthropic_shapes_r74() -> None:
    with FakeProviderServer(format="anthropic") as srv:
        body = {"model": "claude-x", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}]}
        status, _, raw = post(srv, "/v1/messages", body)
        msg = json.loads(raw)
        assert status == 200 and msg["type"] == "message" and msg["model"] == "claude-x"
        assert msg["content"] == [{"type": "text", "text": "Hello from claude-x"}]
        assert msg["stop_reason"] == "end_turn" and set(msg["usage"]) == {"input_tokens",
                                                                          "output_tokens"}
        _, headers, raw = post(srv, "/v1/messages", dict(body, stream=True))
        assert headers["content-type"] == "text/event-stream"
        events = sse_events(raw)
        assert events[0] == "message_start" and events[-1] == "message_stop"
        for name in ("content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "ping"):
            assert name in events
        datas = [json.loads(d) for d in sse_data(raw)]
        assert [d["type"] for d in datas] == events
        text = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
        assert text == "Hello from claude-x"
        delta = next(d for d in datas if d["type"] == "message_delta")
        assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 3
        status, raw = get(srv, "/v1/models")
        assert status == 200 and json.loads(raw)["data"][0]["type"] == "model"


def test_gemini_shapes_r74() -> None:
    with FakeProviderServer(format="gemini") as srv:
        req = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        status, _, raw = post(srv, "/v1beta/models/gem-1:generateContent", req)
        data = json.loads(raw)
        cand = data["candidates"][0]
        assert status == 200 and cand["finishReason"] == "STOP"
        assert cand["content"] == {"parts": [{"text": "Hello from gem-1"}], "role": "model"}
        assert set(data["usageMetadata"]) == {"promptTokenCount", "candidatesTokenCount",
                                              "totalTokenCount"}
        assert srv.requests[-1].model == "gem-1"
        _, headers, raw = post(srv, "/v1beta/models/gem-1:streamGenerateContent?alt=sse", req)
        assert headers["content-type"] == "text/event-stream"
        chunks = [json.loads(d) for d in sse_data(raw)]
        assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
        assert "usageMetadata" in chunks[-1]
        assert "".join(c["candidates"][0]["content"]["parts"][0]["text"]
                       for c in chunks) == "Hello from gem-1"
        assert srv.requests[-1].query == "alt=sse"
        batch = {"requests": [{"model": "models/emb", "content": {"parts": [{"text": t}]}}
                              for t in ("x", "y")]}
        _, _, raw = post(srv, "/v1beta/models/emb:batchEmbedContents", batch)
        vectors = [e["values"] for e in json.loads(raw)["embeddings"]]
        assert len(vectors) == 2 and all(len(v) == 8 for v in vectors) and vectors[0] != vectors[1]
        status, raw = get(srv, "/v1beta/models")
        assert status == 200 and json.loads(raw)["models"][0]["name"].startswith("models/")


# ---------------------------------------------------------------- other event loops


def test_usable_from_asyncio(server: FakeProviderServer) -> None:
    async def run() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
        await writer.wait_closed()
        return data

    assert asyncio.run(run()).startswith(b"HTTP/1.1 200")


def test_usable_from_trio(server: FakeProviderServer) -> None:
    async def run() -> bytes:
        with trio.fail_after(TIMEOUT):
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                await stream.send_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n")
                data = b""
                while chunk := await stream.receive_some():
                    data += chunk
                return data

    assert trio.run(run).startswith(b"HTTP/1.1 200")


# ---------------------------------------------------------------- command line


def test_cli_bad_plan_exits_2_naming_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("- status: 503\n- sleepy: 1\n")
    assert cli_main(["--plan", str(plan)]) == 2
    assert "'sleepy'" in capsys.readouterr().err
    assert cli_main(["--plan", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert cli_main(["--format", "nope"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_listening_line_and_stops_on_signal_r119(
    tmp_path: Path, signum: signal.Signals
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"*": [{"status": 503, "retry_after": 1}, {}]}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters.fake_provider", "--plan", str(plan)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "no output from fake-provider within 15 s"
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        port = int(line.strip().rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m"}))
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("retry-after")) == (503, "1")
        resp.read()
        conn.close()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
