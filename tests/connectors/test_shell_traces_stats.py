"""Shell-side traces reach the sinks (R-13, R-82, R-87) and the last statistics
flush is persisted under `modelmesh/stats` (R-85)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from _obs_helpers import MSG, config_for

from adapters import create, create_async
from adapters.fake_provider import FakeProviderServer
from adapters.secrets import MemorySecretStore
from adapters.storage import STATS_KEY, LocalFileStorage, MemoryStorage, StateCodec, StateSync


def _traces(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in got if r.get("type") == "trace"]


def _sink(got: list[dict[str, Any]], min_severity: str = "info") -> dict[str, Any]:
    return {"connector": "modelmesh.callback.v1", "callback": got.append,
            "streams": ["traces"], "tracing": {"min_severity": min_severity}}


def test_failed_load_error_trace_reaches_callback_sink_r87(tmp_path: Path) -> None:
    """R-87: the `error` trace of a failing load is recorded before the sinks
    exist; it is still delivered to a callback sink."""
    path = tmp_path / "mesh-state.json"
    path.write_text("{not json")
    got: list[dict[str, Any]] = []
    with FakeProviderServer() as srv:
        cfg = config_for(srv, observability=_sink(got))
        cfg["storage"] = {"connector": "modelmesh.local-file.v1", "path": str(path)}
        with create(config=cfg, seed=1) as client:
            client.chat.completions.create(model="chat", messages=MSG)
    errors = [r for r in _traces(got) if r["severity"] == "error"]
    assert any("could not be loaded" in r["message"] for r in errors)


def test_missing_secret_warning_honours_min_severity_r13() -> None:
    """R-13: `fail_on_missing: false` gives a `warning` trace naming the
    reference; a sink with `min_severity: error` does not receive it."""
    store = MemorySecretStore()
    for level, expect in (("warning", True), ("error", False)):
        got: list[dict[str, Any]] = []
        with FakeProviderServer() as srv:
            cfg = config_for(srv, key="${secrets:GONE}", observability=_sink(got, level))
            cfg["secrets"] = {"instance": store, "fail_on_missing": False}
            with create(config=cfg, seed=1):
                pass
        hits = [r for r in _traces(got) if "${secrets:GONE}" in r["message"]]
        assert bool(hits) is expect, level
        if hits:
            assert hits[0]["severity"] == "warning"


class _FailingStorage(MemoryStorage):
    def save(self, key: str, entry: Any) -> None:
        raise OSError("disk full")


def test_failed_save_and_lock_timeout_traces_reach_sinks_r82_r87() -> None:
    """R-87 failing save -> `error` trace; R-82 lock timeout -> `warning`
    trace; both delivered to the sinks while requests still succeed."""
    got: list[dict[str, Any]] = []
    with FakeProviderServer() as srv:
        cfg = config_for(srv, observability=_sink(got))
        cfg["storage"] = {"instance": _FailingStorage(), "sync_policy": "immediate"}
        with create(config=cfg, seed=1) as client:
            client.chat.completions.create(model="chat", messages=MSG)
            client.deactivate("p0.m0")
    assert any(r["severity"] == "error" and "save failed" in r["message"]
               for r in _traces(got))

    got2: list[dict[str, Any]] = []
    storage = MemoryStorage(lock_lifetime=30, retry_interval=0.01)
    with FakeProviderServer() as srv:
        cfg = config_for(srv, observability=_sink(got2, "warning"))
        cfg["storage"] = {"instance": storage, "sync_policy": "immediate",
                          "locking": {"enabled": True, "timeout": "0.05s"}}
        with create(config=cfg, seed=1) as client:
            held = storage.acquire("modelmesh/state")
            client.deactivate("p0.m0")
            storage.release(held)
    warnings = [r for r in _traces(got2) if r["severity"] == "warning"]
    assert any("lock not obtained" in r["message"] for r in warnings)


def _stored_stats(path: Path) -> dict[str, Any]:
    storage = LocalFileStorage(str(path))
    entry = storage.load(STATS_KEY)
    assert entry is not None
    value = StateCodec("json").decode(entry.data)
    assert isinstance(value, dict)
    return value


def test_last_stats_flush_persisted_local_file_r85(tmp_path: Path) -> None:
    """R-85: with local-file storage the final statistics flush is stored under
    `modelmesh/stats`, through the state codec, and reflects the requests."""
    path = tmp_path / "state.json"
    with FakeProviderServer() as srv:
        cfg = config_for(srv)
        cfg["storage"] = {"connector": "modelmesh.local-file.v1", "path": str(path)}
        with create(config=cfg, seed=1) as client:
            for _ in range(3):
                client.chat.completions.create(model="chat", messages=MSG)
    stats = _stored_stats(path)
    assert stats["type"] == "stats" and stats["timestamp"]
    assert stats["scopes"]["model.p0.m0"]["requests_total"] == 3
    # the state itself is still stored beside it
    assert LocalFileStorage(str(path)).load("modelmesh/state") is not None


def test_in_memory_policy_writes_no_stats_r85_r83() -> None:
    """R-83: `in-memory` writes nothing, statistics included."""
    storage = MemoryStorage()
    with FakeProviderServer() as srv:
        cfg = config_for(srv)
        cfg["storage"] = {"instance": storage, "sync_policy": "in-memory"}
        with create(config=cfg, seed=1) as client:
            client.chat.completions.create(model="chat", messages=MSG)
    assert storage.load(STATS_KEY) is None


def test_stats_written_by_async_client_r85(tmp_path: Path) -> None:
    """R-85 through the async client."""
    path = tmp_path / "state.json"

    async def main() -> None:
        with FakeProviderServer() as srv:
            cfg = config_for(srv)
            cfg["storage"] = {"connector": "modelmesh.local-file.v1", "path": str(path)}
            async with create_async(config=cfg, seed=1) as client:
                await client.chat.completions.create(model="chat", messages=MSG)

    anyio.run(main)
    assert _stored_stats(path)["scopes"]["model.p0.m0"]["requests_total"] == 1


def test_stats_ride_along_and_retry_after_failure_r85_r87() -> None:
    """A queued stats flush is written with the next state save; a failed save
    keeps it queued for the next sync point."""
    storage = MemoryStorage()
    sync = StateSync(storage, StateCodec("json"), policy="immediate")
    sync.submit_stats({"type": "stats", "timestamp": "t1", "scopes": {}})
    assert sync.flush() and storage.load(STATS_KEY) is None  # no state queued yet
    sync.submit({"schema": 1})
    orig = storage.save
    calls: list[str] = []

    def failing(key: str, entry: Any) -> None:
        calls.append(key)
        raise OSError("boom")

    storage.save = failing  # type: ignore[method-assign]
    assert sync.flush() is False
    storage.save = orig  # type: ignore[method-assign]
    assert sync.flush() is True
    entry = storage.load(STATS_KEY)
    assert entry is not None and json.loads(entry.data)["timestamp"] == "t1"
