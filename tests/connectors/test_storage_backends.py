"""Storage connectors (SPEC R-81, R-84) and codecs (R-82)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.storage import (
    CodecError,
    Entry,
    LocalFileStorage,
    MemoryStorage,
    SqliteStorage,
    StateCodec,
    Storage,
)


@pytest.fixture(params=["memory", "local-file", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    kind = request.param
    s: Storage
    if kind == "memory":
        s = MemoryStorage(lock_lifetime=0.3, retry_interval=0.02)
    elif kind == "local-file":
        s = LocalFileStorage(tmp_path / "state.json", lock_lifetime=0.3, retry_interval=0.02)
    else:
        s = SqliteStorage(tmp_path / "state.db", table="my_state", lock_lifetime=0.3,
                          retry_interval=0.02)
    yield s
    s.close()


def test_persistence_inventory_stat_r81(storage: Storage) -> None:
    assert storage.load("modelmesh/state") is None
    assert not storage.exists("modelmesh/state")
    storage.save("modelmesh/state", Entry(b'{"a":1}', "application/json"))
    storage.save("modelmesh/config", Entry(b'{"b":2}', "application/json"))
    storage.save("other/x", Entry(b"\x00\x01", "application/octet-stream"))
    entry = storage.load("modelmesh/state")
    assert entry is not None and entry.data == b'{"a":1}'
    assert storage.list() == ["modelmesh/config", "modelmesh/state", "other/x"]
    assert storage.list("modelmesh/") == ["modelmesh/config", "modelmesh/state"]
    st_ = storage.stat("modelmesh/state")
    assert st_ is not None and st_.key == "modelmesh/state" and st_.size == 7
    assert st_.content_type == "application/json"
    assert abs(st_.last_modified - time.time()) < 60
    storage.save("modelmesh/state", Entry(b'{"a":2}', "application/json"))
    assert storage.load("modelmesh/state") == Entry(b'{"a":2}', "application/json")
    assert storage.delete("other/x") is True
    assert storage.delete("other/x") is False
    assert storage.stat("other/x") is None


def test_locking_ids_expiry_timeout_r81(storage: Storage) -> None:
    lock = storage.acquire("k", timeout=0.1)
    assert lock.expires_at == pytest.approx(lock.acquired_at + 0.3)
    assert storage.is_locked("k")
    with pytest.raises(TimeoutError):
        storage.acquire("k", timeout=0.05)
    forged = type(lock)(lock.key, "not-the-id", lock.acquired_at, lock.expires_at)
    assert storage.release(forged) is False and storage.is_locked("k")
    assert storage.release(lock) is True and not storage.is_locked("k")
    first = storage.acquire("k", timeout=0.1)
    second = storage.acquire("k", timeout=1.0)  # waits until the first one expires
    assert second.lock_id != first.lock_id
    assert storage.release(first) is False  # expired and taken over
    assert storage.release(second) is True


def test_locking_mutual_exclusion_r81(storage: Storage) -> None:
    inside = []
    overlap = []

    def worker() -> None:
        lock = storage.acquire("x", timeout=5)
        inside.append(1)
        if len(inside) > 1:
            overlap.append(1)
        time.sleep(0.01)
        inside.pop()
        storage.release(lock)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == []


def test_local_file_backup_and_temp_in_same_dir_r84(tmp_path: Path) -> None:
    s = LocalFileStorage(tmp_path / "mesh-state.json", backup=True)
    s.save("modelmesh/state", Entry(b"{\"v\":1}"))
    assert not (tmp_path / "mesh-state.json.bak").exists()
    s.save("modelmesh/state", Entry(b"{\"v\":2}"))
    assert (tmp_path / "mesh-state.json.bak").read_bytes() == b"{\"v\":1}"
    assert (tmp_path / "mesh-state.json").read_bytes() == b"{\"v\":2}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh-state.json",
                                                          "mesh-state.json.bak"]


def test_sqlite_wal_and_table_name_r84(tmp_path: Path) -> None:
    import sqlite3

    s = SqliteStorage(tmp_path / "m.db", table="custom_tbl")
    s.save("k", Entry(b"v"))
    s.close()
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT data FROM custom_tbl WHERE key='k'").fetchone()[0] == b"v"
    db.close()
    from meshcore.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        SqliteStorage(tmp_path / "m.db", table="x; DROP TABLE y")


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@pytest.mark.parametrize("fmt", ["json", "yaml", "msgpack"])
@pytest.mark.parametrize("compression", [False, True])
@pytest.mark.parametrize("encrypted", [False, True])
def test_codec_roundtrip_r82(fmt: str, compression: bool, encrypted: bool) -> None:
    codec = StateCodec(fmt, compression, (lambda: "pw") if encrypted else None,
                       pbkdf2_iterations=1000)
    snap = {"schema": 1, "saved_at": 1.5e9, "models": {"p.m": {"status": "standby",
                                                              "standby_until": 1.7e9}},
            "budgets": [["provider", "p", "2026-01", 1.25]], "secretish": "x" * 100}
    entry = codec.encode(snap)
    assert codec.decode(entry.data) == snap
    if encrypted:
        assert b"secretish" not in entry.data and entry.data.startswith(b"MMENC1")
        other = StateCodec(fmt, compression, lambda: "wrong", pbkdf2_iterations=1000)
        with pytest.raises(CodecError):
            other.decode(entry.data)
        with pytest.raises(CodecError):
            StateCodec(fmt, compression).decode(entry.data)
    elif compression:
        assert entry.data[:2] == b"\x1f\x8b"
        assert StateCodec(fmt, False).decode(entry.data) == snap  # sniffed


@settings(max_examples=40, deadline=None)
@given(VALUES)
def test_codec_property_roundtrip_r82(value: object) -> None:
    for fmt in ("json", "msgpack"):
        codec = StateCodec(fmt, True)
        assert codec.decode(codec.encode({"v": value}).data) == {"v": value}


def test_codec_rejects_plaintext_when_encryption_on_r82() -> None:
    plain = StateCodec("json").encode({"a": 1})
    with pytest.raises(CodecError):
        StateCodec("json", secret=lambda: "k", pbkdf2_iterations=1000).decode(plain.data)
    with pytest.raises(CodecError):
        StateCodec("json").decode(b"{torn")
