"""The async client under asyncio and trio against real loopback servers
(SPEC R-107, R-42, R-68; ARCHITECTURE rule 9)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
import trio
from _mesh_helpers import (
    CALL_TIMEOUT,
    MSG,
    STALL_AFTER_FIRST,
    busy_connections,
    mesh_config,
    reload_pair,
)

from adapters import (
    AllProvidersExhaustedError,
    AsyncMeshClient,
    ModelMeshError,
    StreamInterruptedError,
    create_async,
)
from adapters.fake_provider import FakeProviderServer
from meshcore import replay

BACKENDS = ["asyncio", "trio"]


def run_on(backend: str, fn: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        with anyio.fail_after(30):
            await fn()

    anyio.run(main, backend=backend)


def aclient(*servers: tuple[str, FakeProviderServer], **kw: object) -> AsyncMeshClient:
    return create_async(config=mesh_config(list(servers), **kw), seed=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini"])
def test_plain_and_stream_each_family_r107(backend: str, fmt: str) -> None:
    with FakeProviderServer(format=fmt) as srv:
        async def body() -> None:
            async with aclient((fmt, srv)) as client:
                resp = await client.chat.completions.create(model="chat", messages=MSG,
                                                            timeout=CALL_TIMEOUT)
                assert resp.model == "p0.m0"
                assert resp.choices[0].message.content == "Hello from m0"
                stream = await client.chat.completions.create(
                    model="chat", messages=MSG, stream=True, timeout=CALL_TIMEOUT)
                text = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                assert "".join(text) == "Hello from m0"

        run_on(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_failover_and_concurrency_r34(backend: str) -> None:
    with FakeProviderServer([{"status": 500}]) as bad, FakeProviderServer() as good:
        async def body() -> None:
            client = aclient(("openai", bad), ("openai", good))
            results: list[str] = []

            async def one() -> None:
                r = await client.chat.completions.create(model="chat", messages=MSG,
                                                         timeout=CALL_TIMEOUT)
                results.append(r.model)

            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(one)
            assert results == ["p1.m1"] * 10
            assert len(good.requests) == 10
            await client.close()
            await client.close()
            with pytest.raises(ModelMeshError):
                await client.chat.completions.create(model="chat", messages=MSG)

        run_on(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_silent_server_timeout_r32(backend: str) -> None:
    with FakeProviderServer([{"silent": True}]) as srv:
        async def body() -> None:
            async with aclient(("openai", srv), timeout="0.4s") as client:
                t0 = time.monotonic()
                with pytest.raises(AllProvidersExhaustedError) as info:
                    await client.chat.completions.create(model="chat", messages=MSG,
                                                         timeout=CALL_TIMEOUT)
                assert 0.35 <= time.monotonic() - t0 < 2.0
                assert info.value.attempts[-1].outcome.value == "timeout"

        run_on(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_caller_cancellation_closes_connection_r42(backend: str) -> None:
    with FakeProviderServer([{"delay": 5.0}]) as srv:
        async def body() -> None:
            async with aclient(("openai", srv)) as client:
                with anyio.move_on_after(0.3) as scope:
                    await client.chat.completions.create(model="chat", messages=MSG,
                                                         timeout=CALL_TIMEOUT)
                assert scope.cancelled_caught
                assert busy_connections(client._driver.pool) == []
                status = client.pool_status_of("chat")
                assert status.models[0].failure_count == 0
                assert status.models[0].status == "active"

        run_on(backend, body)


# Closing a stream early leaves httpcore's own nested body generators to the garbage
# collector; trio's finalizer reports that with a ResourceWarning (the connection itself
# is closed, which is what the test checks).
@pytest.mark.filterwarnings("ignore:Async generator 'httpcore.:ResourceWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_aclose_early_r42(backend: str) -> None:
    plan = [{"chunk_delay": 0.3, "content": "one two three four five"}]
    with FakeProviderServer(plan) as srv:
        async def body() -> None:
            async with aclient(("openai", srv)) as client:
                stream = await client.chat.completions.create(
                    model="chat", messages=MSG, stream=True, timeout=CALL_TIMEOUT)
                first = await stream.__anext__()
                assert first.choices[0].delta.role == "assistant"
                await stream.aclose()
                assert busy_connections(client._driver.pool) == []

        run_on(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_cut_after_commit_r68(backend: str) -> None:
    plan = [{"cut_after_chunks": 1, "content": "alpha beta gamma"}]
    with FakeProviderServer(plan) as srv:
        async def body() -> None:
            async with aclient(("openai", srv)) as client:
                got: list[str] = []
                stream = await client.chat.completions.create(
                    model="chat", messages=MSG, stream=True, timeout=CALL_TIMEOUT)
                with pytest.raises(StreamInterruptedError) as info:
                    async for chunk in stream:
                        got.append(chunk.choices[0].delta.content or "")
                assert "".join(got) == info.value.partial_text != ""

        run_on(backend, body)


@pytest.mark.trio
async def test_trio_native_record_replays_r110(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    with FakeProviderServer([{"status": 502}, {}]) as srv:
        cfg = mesh_config([("openai", srv)], pool={"retry": {"max_attempts": 2,
                                                             "initial_delay": "10ms"}})
        with trio.fail_after(30):
            async with create_async(config=cfg, record=str(log)) as client:
                r = await client.chat.completions.create(model="chat", messages=MSG,
                                                         timeout=CALL_TIMEOUT)
                assert r.model == "p0.m0"
    assert len(srv.requests) == 2  # same-model retry after the 502
    report = replay(log.read_text().splitlines())
    assert report.ok, report.first_divergence


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_attempt_interrupts_a_stalled_stream_read_at_once(backend: str) -> None:
    """A CancelAttempt while the driver waits for the next chunk (here: the
    model is removed by a reload) ends the read at once, although the provider
    stalls for 20 s after its first chunk, and leaves no connection busy."""
    from adapters.build import build

    with FakeProviderServer(STALL_AFTER_FIRST) as slow, FakeProviderServer() as other:
        cfg, without_slow = reload_pair(slow, other)

        async def body() -> None:
            client = create_async(config=cfg, seed=5)
            async with client:
                stream = await client.chat.completions.create(
                    model="chat", messages=MSG, stream=True, timeout=CALL_TIMEOUT)
                first = await stream.__anext__()  # the role chunk: committed to p0.m0
                assert first.choices[0].delta.role == "assistant" and first.model == "p0.m0"
                started = time.monotonic()

                async def reload_soon() -> None:
                    await anyio.sleep(0.2)  # the driver is now waiting in the read
                    client.reconfigure(build((), config=without_slow))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(reload_soon)
                    # committed to the removed model, the stream cannot rotate
                    with pytest.raises(StreamInterruptedError, match="removed"):
                        async for _ in stream:
                            pass
                assert time.monotonic() - started < 5.0  # not the 20 s chunk delay
                assert busy_connections(client._driver.pool) == []

        run_on(backend, body)
