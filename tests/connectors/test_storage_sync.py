"""Sync policies and failure isolation (SPEC R-82, R-83, R-85, R-87) on the
sync and async clients."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapters import create, create_async
from adapters.secrets import MemorySecretStore
from adapters.storage import (
    CONFIG_KEY,
    STATE_KEY,
    Entry,
    LocalFileStorage,
    MemoryStorage,
    SqliteStorage,
    StateCodec,
    StateSync,
)
from meshcore.errors import ConfigurationError


def _cfg(storage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": {"p": {"connector": "openai.compatible.v1",
                            "base_url": "http://127.0.0.1:9/v1", "api_key": "${env:HOME}"}},
        "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]},
                   "p.n": {"provider": "p", "name": "n", "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p.m", "p.n"]}},
        **extra,
    }
    if storage is not None:
        cfg["storage"] = storage
    return cfg


def _statuses(client: Any) -> dict[str, str]:
    return {m.model_id: m.status for m in client.pool_status("chat").models}


class SlowStorage(MemoryStorage):
    """Counts concurrent saves."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.max_active = 0
        self.count = 0
        self.fail = False

    def save(self, key: str, entry: Entry) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(0.005)
            if self.fail:
                raise OSError("disk full")
            super().save(key, entry)
            self.count += 1
        finally:
            self.active -= 1


def test_coalesced_saves_one_in_flight_r83() -> None:
    storage = SlowStorage()
    sync = StateSync(storage, StateCodec("json"), policy="immediate")

    def worker(i: int) -> None:
        for j in range(20):
            sync.submit({"schema": 1, "seq": i * 100 + j})
            sync.flush()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sync.flush()
    assert storage.max_active == 1
    assert storage.count < 80 + 1  # coalesced: not every snapshot was written
    assert not sync.pending
    entry = storage.load(STATE_KEY)
    assert entry is not None and "seq" in json.loads(entry.data)


def test_failed_save_traces_and_retries_r87() -> None:
    storage = SlowStorage()
    traces: list[tuple[str, str, str | None]] = []
    sync = StateSync(storage, StateCodec("json"), trace=lambda *t: traces.append(t))
    storage.fail = True
    sync.submit({"schema": 1, "v": 1})
    assert sync.flush() is False
    assert traces[-1][0] == "error" and "disk full" in str(traces[-1][2])
    assert sync.pending  # retried at the next sync point
    storage.fail = False
    assert sync.flush() is True and storage.load(STATE_KEY) is not None


def test_lock_timeout_skips_save_with_warning_r82() -> None:
    storage = MemoryStorage(lock_lifetime=5, retry_interval=0.01)
    traces: list[tuple[str, str, str | None]] = []
    sync = StateSync(storage, StateCodec("json"), locking=True, lock_timeout=0.05,
                     trace=lambda *t: traces.append(t))
    held = storage.acquire(STATE_KEY)
    sync.submit({"schema": 1})
    assert sync.flush() is False
    assert traces[-1][0] == "warning" and "lock" in traces[-1][1]
    storage.release(held)
    assert sync.flush() is True


def test_failed_load_starts_empty_r87(tmp_path: Path) -> None:
    path = tmp_path / "mesh-state.json"
    path.write_text("{not json")
    with create(config=_cfg({"path": str(path)}), seed=1) as client:
        assert set(_statuses(client).values()) == {"active"}
        traces = list(client._engine.state.traces)
        assert any(t.severity == "error" and "loaded" in t.message for t in traces)
        client.deactivate("p.m")
    assert json.loads(path.read_text())["models"]["p.m"]["status"] == "standby"


@pytest.mark.parametrize("connector", ["modelmesh.local-file.v1", "modelmesh.sqlite.v1"])
@pytest.mark.parametrize("fmt", ["json", "yaml", "msgpack"])
def test_sync_on_boundary_persists_state_r83_r85(tmp_path: Path, connector: str,
                                                 fmt: str) -> None:
    suffix = "db" if "sqlite" in connector else fmt
    storage = {"connector": connector, "path": str(tmp_path / f"state.{suffix}"),
               "persistence": {"format": fmt, "compression": fmt == "yaml"}}
    with create(config=_cfg(storage), seed=1) as client:
        client.deactivate("p.m")
    with create(config=_cfg(storage), seed=2) as client:
        assert _statuses(client) == {"p.m": "standby", "p.n": "active"}
        client.activate("p.m")
    with create(config=_cfg(storage), seed=3) as client:
        assert _statuses(client) == {"p.m": "active", "p.n": "active"}


def test_in_memory_policy_writes_nothing_r83(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    with create(config=_cfg({"sync_policy": "in-memory"}), seed=1) as client:
        client.deactivate("p.m")
        assert client._engine.state.sync is None
    with create(config=_cfg(), seed=1) as client:  # no storage section: memory connector
        client.deactivate("p.m")
    assert list(tmp_path.iterdir()) == []


def test_immediate_saves_after_each_change_and_config_key_r83_r85() -> None:
    storage = MemoryStorage()
    cfg = _cfg({"instance": storage, "sync_policy": "immediate"})
    with create(config=cfg, seed=1) as client:
        client.deactivate("p.m")
        entry = storage.load(STATE_KEY)
        assert entry is not None
        assert json.loads(entry.data)["models"]["p.m"]["status"] == "standby"
        client.activate("p.m")
        entry = storage.load(STATE_KEY)
        assert entry is not None
        assert json.loads(entry.data)["models"]["p.m"]["status"] == "active"
        conf = storage.load(CONFIG_KEY)
        assert conf is not None
        text = conf.data.decode()
        assert "${env:HOME}" in text  # references, never resolved values
        import os

        assert os.environ.get("HOME", "@@") not in text.replace("${env:HOME}", "")


def test_periodic_saves_on_timer_r83(monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.client

    storage = MemoryStorage()
    now = [100.0]
    monkeypatch.setattr(adapters.client.time, "monotonic", lambda: now[0])
    cfg = _cfg({"instance": storage, "sync_policy": "periodic", "sync_interval": "10s"})
    with create(config=cfg, seed=1) as client:
        client.deactivate("p.m")
        assert storage.load(STATE_KEY) is None
        now[0] += 11
        client.explain("chat")
        client.deactivate("p.n")  # the next call runs the due save timer inline
        entry = storage.load(STATE_KEY)
        assert entry is not None
        assert json.loads(entry.data)["models"]["p.m"]["status"] == "standby"
        assert client._engine.state.sync is not None and client._engine.state.sync.locking


def test_encryption_at_rest_through_secret_store_r82(tmp_path: Path) -> None:
    path = tmp_path / "state.bin"
    secrets = {"instance": MemorySecretStore({"MODELMESH_STORAGE_KEY": "state-pass"})}
    storage = {"path": str(path), "persistence": {"encryption": True}}
    with create(config=_cfg(storage, secrets=secrets), seed=1) as client:
        client.deactivate("p.m")
    raw = path.read_bytes()
    assert raw.startswith(b"MMENC1") and b"standby" not in raw
    with create(config=_cfg(storage, secrets=secrets), seed=1) as client:
        assert _statuses(client)["p.m"] == "standby"
    with pytest.raises(ConfigurationError, match="MODELMESH_STORAGE_KEY"):
        create(config=_cfg(storage, secrets={"instance": MemorySecretStore()}), seed=1)


def test_async_client_loads_and_saves_r83_r107(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    storage = {"path": str(path), "sync_policy": "immediate"}

    async def first() -> None:
        async with create_async(config=_cfg(storage), seed=1) as client:
            client.deactivate("p.m")
            await client._engine.state.aflush()
            assert json.loads(path.read_text())["models"]["p.m"]["status"] == "standby"

    async def second() -> None:
        client = create_async(config=_cfg(storage), seed=2)
        assert _statuses(client)["p.m"] == "standby"
        client.activate("p.m")
        await client.close()

    anyio.run(first)
    anyio.run(second)
    assert json.loads(path.read_text())["models"]["p.m"]["status"] == "active"


def test_sqlite_and_local_file_via_open_state_r84(tmp_path: Path) -> None:
    for storage in (SqliteStorage(tmp_path / "a.db"), LocalFileStorage(tmp_path / "a.json")):
        sync = StateSync(storage, StateCodec("json"))
        sync.submit({"schema": 1, "x": 1})
        sync.close(None)
        assert sync.saves == 1
