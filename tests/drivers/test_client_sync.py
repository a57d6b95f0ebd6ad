"""The sync client against real loopback servers (SPEC R-31..R-42, R-65..R-69,
R-104..R-110; API.md section 1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _mesh_helpers import (
    CALL_TIMEOUT,
    MSG,
    STALL_AFTER_FIRST,
    busy_connections,
    mesh_config,
    open_connections,
    reload_pair,
    wait_until,
)

from adapters import (
    AllProvidersExhaustedError,
    MeshClient,
    ModelMeshError,
    PoolStatus,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
    UnknownPoolError,
    create,
)
from adapters.fake_provider import FakeProviderServer
from meshcore import replay


@pytest.fixture
def openai_pair() -> Iterator[tuple[FakeProviderServer, FakeProviderServer]]:
    with FakeProviderServer() as a, FakeProviderServer() as b:
        yield a, b


def client_for(*servers: tuple[str, FakeProviderServer], **kw: object) -> MeshClient:
    return create(config=mesh_config(list(servers), **kw), seed=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini"])
def test_plain_chat_each_family_r105(fmt: str) -> None:
    with FakeProviderServer(format=fmt) as srv, client_for((fmt, srv)) as client:
        resp = client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        assert resp.model == "p0.m0"  # the canonical model ID, never the pool
        assert resp.choices[0].message.content == "Hello from m0"
        dumped = resp.model_dump()
        assert dumped["object"] == "chat.completion"
        assert dumped["choices"][0]["message"]["role"] == "assistant"
        assert len(srv.requests) == 1


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini"])
def test_streaming_chat_each_family_r67(fmt: str) -> None:
    with FakeProviderServer(format=fmt) as srv, client_for((fmt, srv)) as client:
        chunks = list(client.chat.completions.create(
            model="chat", messages=MSG, stream=True, timeout=CALL_TIMEOUT))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hello from m0"
        assert len({c.id for c in chunks}) == 1
        assert {c.model for c in chunks} == {"p0.m0"}
        assert chunks[0].choices[0].delta.role == "assistant"
        finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
        assert len(finals) == 1


def test_failover_500_to_second_provider_r34(
    openai_pair: tuple[FakeProviderServer, FakeProviderServer],
) -> None:
    bad, good = openai_pair
    bad.set_plan([{"status": 500}])
    with client_for(("openai", bad), ("openai", good)) as client:
        resp = client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        assert resp.model == "p1.m1"
        assert len(bad.requests) == 1 and len(good.requests) == 1
        row = {m.model_id: m for m in client.pool_status_of("chat").models}
        assert row["p0.m0"].failure_count == 1


def test_all_fail_raises_exhausted_with_history_r34() -> None:
    with FakeProviderServer([{"status": 503}]) as srv, client_for(("openai", srv)) as client:
        with pytest.raises(AllProvidersExhaustedError) as info:
            client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        assert [a.status_code for a in info.value.attempts] == [503]
        assert isinstance(info.value.last_error, ProviderError)
        assert info.value.last_error.status_code == 503


def test_silent_server_times_out_within_bound_r32() -> None:
    with FakeProviderServer([{"silent": True}]) as srv, \
            client_for(("openai", srv), timeout="0.4s") as client:
        t0 = time.monotonic()
        with pytest.raises(AllProvidersExhaustedError) as info:
            client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        elapsed = time.monotonic() - t0
        assert 0.35 <= elapsed < 2.0
        assert isinstance(info.value.last_error, ProviderTimeoutError)


def test_first_chunk_timeout_r32() -> None:
    plan = [{"ttft_delay": 3.0}]
    with FakeProviderServer(plan) as srv, client_for(
        ("openai", srv), pool={"stream_first_chunk_timeout": "0.3s"}
    ) as client:
        t0 = time.monotonic()
        with pytest.raises(AllProvidersExhaustedError) as info:
            list(client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                                timeout=CALL_TIMEOUT))
        assert time.monotonic() - t0 < 2.0
        assert info.value.attempts[-1].outcome.value == "ttft_timeout"


def test_request_deadline_bounds_the_call_r31() -> None:
    with FakeProviderServer([{"silent": True}]) as srv, client_for(("openai", srv)) as client:
        t0 = time.monotonic()
        with pytest.raises(AllProvidersExhaustedError) as info:
            client.chat.completions.create(model="chat", messages=MSG, timeout=0.3)
        assert time.monotonic() - t0 < 2.0
        assert info.value.details["reason"] == "deadline_exceeded"


def test_connection_reuse_keep_alive() -> None:
    with FakeProviderServer() as srv, client_for(("openai", srv)) as client:
        for _ in range(2):
            client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        assert len({r.connection_id for r in srv.requests}) == 1


def test_stream_closed_early_cancels_and_leaks_nothing_r42() -> None:
    plan = [{"chunk_delay": 0.3, "content": "one two three four five six seven"}]
    with FakeProviderServer(plan) as srv, client_for(("openai", srv)) as client:
        stream = client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                                timeout=CALL_TIMEOUT)
        first = next(stream)
        assert first.choices[0].delta.role == "assistant"
        stream.close()
        pool = client._driver.pool
        assert busy_connections(pool) == []
        assert wait_until(lambda: open_connections(pool) == [])
        status = client.pool_status_of("chat")
        assert status.models[0].failure_count == 0 and status.models[0].status == "active"
        # the client still works afterwards on a fresh connection
        srv.set_plan(None)
        resp = client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        assert resp.model == "p0.m0"


def test_stream_cut_after_commit_yields_then_raises_r68() -> None:
    plan = [{"cut_after_chunks": 1, "content": "alpha beta gamma"}]
    with FakeProviderServer(plan) as srv, client_for(("openai", srv)) as client:
        got: list[str] = []
        with pytest.raises(StreamInterruptedError) as info:
            for chunk in client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                                        timeout=CALL_TIMEOUT):
                got.append(chunk.choices[0].delta.content or "")
        assert "".join(got) == info.value.partial_text
        assert info.value.partial_text.startswith("alpha")
        assert info.value.model_id == "p0.m0"
        assert len(srv.requests) == 1  # no retry after commit


def test_pre_commit_stream_failure_fails_over_invisibly_r66(
    openai_pair: tuple[FakeProviderServer, FakeProviderServer],
) -> None:
    bad, good = openai_pair
    bad.set_plan([{"malformed": True}])
    with client_for(("openai", bad), ("openai", good)) as client:
        chunks = list(client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                                     timeout=CALL_TIMEOUT))
        assert {c.model for c in chunks} == {"p1.m1"}
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
            "Hello from m1"


def test_thread_sharing_8x5_r107() -> None:
    with FakeProviderServer() as srv, client_for(("openai", srv)) as client:
        errors: list[BaseException] = []
        models: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            try:
                for _ in range(5):
                    r = client.chat.completions.create(model="chat", messages=MSG,
                                                       timeout=CALL_TIMEOUT)
                    with lock:
                        models.append(r.model)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert models == ["p0.m0"] * 40
        assert len(srv.requests) == 40
        assert client.usage["total_requests"] == 40


def test_record_writes_a_replayable_log_r110(tmp_path: Path,
                                             openai_pair: tuple[FakeProviderServer,
                                                                FakeProviderServer]) -> None:
    bad, good = openai_pair
    bad.set_plan([{"status": 500}, {}])
    log = tmp_path / "events.jsonl"
    client = create(config=mesh_config([("openai", bad), ("openai", good)]), record=str(log))
    with client:
        client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)
        list(client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                            timeout=CALL_TIMEOUT))
    lines = log.read_text().splitlines()
    assert f'"seed": {client.seed}' in lines[0]
    assert "test-key" not in log.read_text()  # literal keys are redacted
    report = replay(lines)
    assert report.ok, report.first_divergence
    assert report.steps == len(lines) - 1


def test_embeddings_and_models_list_r105() -> None:
    with FakeProviderServer() as srv, client_for(("openai", srv)) as client:
        cfg = client._built.config
        assert "chat" in cfg.pools
        emb = client.embeddings.create(model="p0.m0", input=["a", "b"], timeout=CALL_TIMEOUT)
        assert [d.index for d in emb.data] == [0, 1]
        assert [m.id for m in client.models.list().data] == ["chat"]


def test_extensions_explain_status_rotate_r106(
    openai_pair: tuple[FakeProviderServer, FakeProviderServer],
) -> None:
    a, b = openai_pair
    with client_for(("openai", a), ("openai", b)) as client:
        ex = client.explain(model="chat", messages=MSG)
        assert ex["selected_model"] == "p0.m0"
        status = client.pool_status("chat")
        assert isinstance(status, PoolStatus)
        assert status["active"] == status.active == 2
        with pytest.raises(KeyError):
            status["nope"]
        assert set(client.pool_status()) == {"chat"}  # type: ignore[arg-type]
        assert "Pool \"chat\"" in client.describe()
        assert client.rotate("chat") == "p1.m1"
        assert client.pool_status_of("chat").standby == 1
        client.activate("p0.m0")
        client.deactivate("p1")
        assert client.active_providers() == ["p0"]
        with pytest.raises(UnknownPoolError):
            client.describe("missing")
        with pytest.raises(UnknownPoolError):
            client.chat.completions.create(model="missing", messages=MSG, timeout=CALL_TIMEOUT)
        assert a.requests == [] and b.requests == []  # no provider call for any of these


def test_close_is_idempotent_and_final_r106() -> None:
    with FakeProviderServer() as srv:
        client = client_for(("openai", srv))
        client.close()
        client.close()
        with pytest.raises(ModelMeshError):
            client.chat.completions.create(model="chat", messages=MSG, timeout=CALL_TIMEOUT)


def test_cancel_attempt_interrupts_a_stalled_stream_read_at_once() -> None:
    """A CancelAttempt from another thread (a reload removing the model) ends a
    read that waits on a stalled provider at once; the committed stream fails
    as interrupted (R-68) and no connection stays busy."""
    from adapters.build import build

    with FakeProviderServer(STALL_AFTER_FIRST) as slow, FakeProviderServer() as other:
        cfg, without_slow = reload_pair(slow, other)
        with create(config=cfg, seed=3) as client:
            stream = client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                                    timeout=CALL_TIMEOUT)
            first = next(stream)
            assert first.choices[0].delta.role == "assistant" and first.model == "p0.m0"
            started = time.monotonic()
            timer = threading.Timer(0.2, lambda: client.reconfigure(
                build((), config=without_slow)))
            timer.start()
            try:
                with pytest.raises(StreamInterruptedError, match="removed"):
                    for _ in stream:
                        pass
            finally:
                timer.join(5.0)
            assert time.monotonic() - started < 5.0  # not the provider's 20 s stall
            assert busy_connections(client._driver.pool) == []
