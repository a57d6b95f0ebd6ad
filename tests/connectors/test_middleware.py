"""Middleware hooks on both clients, streaming included (SPEC R-108)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import pytest
from _obs_helpers import MSG, config_for

from adapters import (
    AllProvidersExhaustedError,
    ProviderError,
    StreamInterruptedError,
    create,
    create_async,
)
from adapters.fake_provider import FakeProviderServer
from adapters.middleware import MiddlewareContext
from meshcore.wire.models import ChatCompletion, ChatCompletionRequest, ChatMessage

BACKENDS = ["asyncio", "trio"]


class Recorder:
    """A middleware that logs every hook call into a shared list."""

    def __init__(self, name: str, log: list[tuple[Any, ...]], answer: Any = None,
                 rewrite: str | None = None) -> None:
        self.name, self.log, self.answer, self.rewrite = name, log, answer, rewrite

    def before_request(self, request: Any, ctx: MiddlewareContext) -> Any:
        self.log.append((self.name, "before", ctx.model_id, ctx.attempt, ctx.pool_name,
                         ctx.request_id))
        ctx.metadata.setdefault("seen", []).append(self.name)
        if self.rewrite is not None and isinstance(request, ChatCompletionRequest):
            return replace(request, messages=(ChatMessage(role="user", content=self.rewrite),))
        return request

    def after_response(self, response: Any, ctx: MiddlewareContext) -> Any:
        self.log.append((self.name, "after", ctx.model_id, type(response).__name__,
                         dict(ctx.metadata)))
        return response

    def on_error(self, error: Exception, ctx: MiddlewareContext) -> Any:
        self.log.append((self.name, "error", ctx.model_id, type(error).__name__))
        return self.answer


class AsyncRecorder(Recorder):
    async def before_request(self, request: Any, ctx: MiddlewareContext) -> Any:
        await anyio.sleep(0)
        return Recorder.before_request(self, request, ctx)

    async def after_response(self, response: Any, ctx: MiddlewareContext) -> Any:
        await anyio.sleep(0)
        return Recorder.after_response(self, response, ctx)

    async def on_error(self, error: Exception, ctx: MiddlewareContext) -> Any:
        await anyio.sleep(0)
        return Recorder.on_error(self, error, ctx)


def canned(text: str = "from middleware") -> ChatCompletion:
    from meshcore.wire.models import ChatCompletionMessage, Choice

    return ChatCompletion(id="chatcmpl-mw", created=1, model="mw",
                          choices=(Choice(0, ChatCompletionMessage(content=text), "stop"),))


def steps(log: list[tuple[Any, ...]]) -> list[tuple[str, str, Any]]:
    return [(e[0], e[1], e[2]) for e in log]


def test_order_context_and_rewrite_sync_r108() -> None:
    log: list[tuple[Any, ...]] = []
    mw = [Recorder("A", log, rewrite="rewritten"), Recorder("B", log)]
    with FakeProviderServer() as srv, create(config=config_for(srv), middleware=mw,
                                             seed=1) as client:
        resp = client.chat.completions.create(model="chat", messages=MSG,
                                              metadata={"user": "u1"})
        assert srv.requests[0].json["messages"][0]["content"] == "rewritten"
    assert resp.choices[0].message.content == "Hello from m0"
    assert steps(log) == [("A", "before", "p0.m0"), ("B", "before", "p0.m0"),
                          ("B", "after", "p0.m0"), ("A", "after", "p0.m0")]
    before = log[0]
    assert before[3] == 1 and before[4] == "chat" and before[5].startswith("req-")
    assert log[2][4] == {"user": "u1", "seen": ["A", "B"]}  # shared, seeded metadata


def test_on_error_runs_per_failed_attempt_before_rotation_r108() -> None:
    log: list[tuple[Any, ...]] = []
    mw = [Recorder("A", log), Recorder("B", log)]
    with FakeProviderServer() as a, FakeProviderServer() as b:
        a.set_plan([{"status": 503}])
        with create(config=config_for(a, b), middleware=mw, seed=1) as client:
            resp = client.chat.completions.create(model="chat", messages=MSG)
    assert resp.model == "p1.m1"
    assert steps(log) == [
        ("A", "before", "p0.m0"), ("B", "before", "p0.m0"),
        ("A", "error", "p0.m0"), ("B", "error", "p0.m0"),
        ("A", "before", "p1.m1"), ("B", "before", "p1.m1"),
        ("B", "after", "p1.m1"), ("A", "after", "p1.m1"),
    ]
    assert log[2][3] == "ProviderError"
    assert log[4][3] == 2  # attempt number within the request


def test_first_on_error_response_wins_and_failure_counts_r108() -> None:
    log: list[tuple[Any, ...]] = []
    mw = [Recorder("A", log, answer=canned()), Recorder("B", log, answer=canned("other"))]
    with FakeProviderServer() as a, FakeProviderServer() as b:
        a.set_plan([{"status": 500}])
        with create(config=config_for(a, b), middleware=mw, seed=1) as client:
            resp = client.chat.completions.create(model="chat", messages=MSG)
            assert resp.choices[0].message.content == "from middleware"
            assert len(b.requests) == 0  # the request ended: no rotation
            row = client.pool_status_of("chat").models[0]
            assert row.model_id == "p0.m0" and row.failure_count == 1
    assert [e[1] for e in log if e[0] == "B"] == ["before"]  # B.on_error skipped


def test_raising_hook_reaches_caller_r108() -> None:
    class Boom(Exception):
        pass

    calls: list[int] = []

    def explode(request: Any, ctx: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Boom("no")
        return request

    with FakeProviderServer() as srv, create(config=config_for(srv),
                                             middleware=[{"before_request": explode}],
                                             seed=1) as client:
        with pytest.raises(Boom):
            client.chat.completions.create(model="chat", messages=MSG)
        assert len(srv.requests) == 0
        # a hook failure touches no model's health: the next request is served
        resp = client.chat.completions.create(model="chat", messages=MSG)
        assert resp.model == "p0.m0"
        assert client.pool_status_of("chat").models[0].failure_count == 0


def test_streaming_sync_r108() -> None:
    log: list[tuple[Any, ...]] = []

    class Replacing(Recorder):
        def after_response(self, response: Any, ctx: MiddlewareContext) -> Any:
            super().after_response(response, ctx)
            self.log.append(("R", "content", response.choices[0].message.content))
            return canned("ignored")  # ignored for streams

    with FakeProviderServer() as a, FakeProviderServer() as b:
        a.set_plan([{"status": 500}])
        with create(config=config_for(a, b), middleware=[Replacing("R", log)],
                    seed=1) as client:
            chunks = list(client.chat.completions.create(model="chat", messages=MSG,
                                                         stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hello from m1"
    assert steps(log)[:4] == [("R", "before", "p0.m0"), ("R", "error", "p0.m0"),
                              ("R", "before", "p1.m1"), ("R", "after", "p1.m1")]
    assert log[3][3] == "ChatCompletion" and log[4] == ("R", "content", "Hello from m1")


def test_no_on_error_after_commit_r108() -> None:
    log: list[tuple[Any, ...]] = []
    with FakeProviderServer() as srv:
        srv.set_plan([{"cut_after_chunks": 1}])
        mw = [Recorder("A", log, answer=canned())]
        with create(config=config_for(srv), middleware=mw, seed=1) as client, \
                pytest.raises(StreamInterruptedError):
            for _ in client.chat.completions.create(model="chat", messages=MSG, stream=True):
                pass
    assert [e[1] for e in log] == ["before"]


def test_on_error_answer_for_a_stream_before_commit_r108() -> None:
    log: list[tuple[Any, ...]] = []
    with FakeProviderServer() as srv:
        srv.set_plan([{"status": 500}])
        with create(config=config_for(srv), middleware=[Recorder("A", log, answer=canned())],
                    seed=1) as client:
            chunks = list(client.chat.completions.create(model="chat", messages=MSG,
                                                         stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from middleware"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_sync_client_rejects_coroutine_hooks_r108() -> None:
    with FakeProviderServer() as srv, pytest.raises(TypeError, match="sync hooks only"):
        create(config=config_for(srv), middleware=[AsyncRecorder("A", [])], seed=1)


def test_without_middleware_errors_are_unchanged_r108() -> None:
    with FakeProviderServer() as srv, create(config=config_for(srv), seed=1) as client:
        srv.set_plan([{"status": 500}])
        with pytest.raises(AllProvidersExhaustedError) as info:
            client.chat.completions.create(model="chat", messages=MSG)
        assert isinstance(info.value.last_error, ProviderError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_hooks_order_and_streaming_r108(backend: str) -> None:
    log: list[tuple[Any, ...]] = []

    async def main() -> None:
        with FakeProviderServer() as a, FakeProviderServer() as b:
            a.set_plan([{"status": 503}])
            mw = [AsyncRecorder("A", log, rewrite="async rewrite"), Recorder("B", log)]
            async with create_async(config=config_for(a, b), middleware=mw,
                                    seed=1) as client:
                resp = await client.chat.completions.create(model="chat", messages=MSG,
                                                            metadata={"k": 1})
                assert resp.model == "p1.m1"
                assert b.requests[0].json["messages"][0]["content"] == "async rewrite"
                log.append(("--",))
                stream = await client.chat.completions.create(model="chat", messages=MSG,
                                                              stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in stream])
                assert text.startswith("Hello from m")

    anyio.run(main, backend=backend)
    first = log[:log.index(("--",))]
    assert steps(first) == [
        ("A", "before", "p0.m0"), ("B", "before", "p0.m0"),
        ("A", "error", "p0.m0"), ("B", "error", "p0.m0"),
        ("A", "before", "p1.m1"), ("B", "before", "p1.m1"),
        ("B", "after", "p1.m1"), ("A", "after", "p1.m1"),
    ]
    assert first[-1][4] == {"k": 1, "seen": ["A", "B", "A", "B"]}
    rest = log[log.index(("--",)) + 1:]
    assert [e[1] for e in rest][-2:] == ["after", "after"]
    assert all(e[3] == "ChatCompletion" for e in rest if e[1] == "after")


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_first_on_error_answer_wins_r108(backend: str) -> None:
    log: list[tuple[Any, ...]] = []

    async def main() -> None:
        with FakeProviderServer() as a, FakeProviderServer() as b:
            a.set_plan([{"status": 500}])
            mw = [AsyncRecorder("A", log, answer=canned()), Recorder("B", log)]
            async with create_async(config=config_for(a, b), middleware=mw,
                                    seed=1) as client:
                resp = await client.chat.completions.create(model="chat", messages=MSG)
                assert resp.choices[0].message.content == "from middleware"
                assert len(b.requests) == 0

    anyio.run(main, backend=backend)
    assert [e[1] for e in log if e[0] == "B"] == ["before"]
