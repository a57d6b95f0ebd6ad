"""`modelmesh.memory.v1`: an in-process storage (SPEC R-84). Nothing
survives the process; one instance may be shared by several clients."""

from __future__ import annotations

import builtins
import threading
import time

from adapters.storage.base import Entry, Lock, StatInfo, Storage

__all__ = ["MemoryStorage"]


class MemoryStorage(Storage):
    """A dict of entries plus an in-process lock table."""

    def __init__(self, lock_lifetime: float = 30.0, retry_interval: float = 1.0) -> None:
        super().__init__(lock_lifetime, retry_interval)
        self._data: dict[str, tuple[Entry, float]] = {}
        self._locks: dict[str, Lock] = {}
        self._mutex = threading.Lock()

    def load(self, key: str) -> Entry | None:
        with self._mutex:
            hit = self._data.get(key)
        return None if hit is None else hit[0]

    def save(self, key: str, entry: Entry) -> None:
        with self._mutex:
            self._data[key] = (entry, time.time())

    def list(self, prefix: str | None = None) -> builtins.list[str]:
        with self._mutex:
            return sorted(k for k in self._data if prefix is None or k.startswith(prefix))

    def delete(self, key: str) -> bool:
        with self._mutex:
            return self._data.pop(key, None) is not None

    def stat(self, key: str) -> StatInfo | None:
        with self._mutex:
            hit = self._data.get(key)
        if hit is None:
            return None
        return StatInfo(key, len(hit[0].data), hit[1], hit[0].content_type)

    def try_acquire(self, key: str) -> Lock | None:
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and held.expires_at > time.time():
                return None
            lock = self._new_lock(key)
            self._locks[key] = lock
            return lock

    def release(self, lock: Lock) -> bool:
        with self._mutex:
            held = self._locks.get(lock.key)
            if held is None or held.lock_id != lock.lock_id:
                return False
            del self._locks[lock.key]
            return True

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            held = self._locks.get(key)
            return held is not None and held.expires_at > time.time()
