"""Storage interfaces (SPEC R-81) and value types.

Persistence: `load(key) -> Entry | None`, `save(key, entry)`. Inventory:
`list(prefix=None)`, `delete(key) -> bool`. Stat Query: `stat(key) ->
StatInfo | None`, `exists(key)`. Locking: `acquire(key, timeout) -> Lock`
(raises `TimeoutError`), `release(lock)` (only the matching `lock_id`
releases), `is_locked(key)`. A lock expires at `expires_at` = acquired_at +
the storage's lock lifetime (`locking.timeout`).
"""

from __future__ import annotations

import builtins
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Entry", "Lock", "StatInfo", "Storage", "new_lock_id"]


@dataclass(frozen=True)
class Entry:
    """A stored value: bytes plus their content type."""

    data: bytes
    content_type: str = "application/octet-stream"


class StatInfo(NamedTuple):
    """`stat()` answer (R-81)."""

    key: str
    size: int
    last_modified: float
    content_type: str


@dataclass(frozen=True)
class Lock:
    """A held advisory lock (R-81); wall-clock epoch seconds."""

    key: str
    lock_id: str
    acquired_at: float
    expires_at: float


def new_lock_id() -> str:
    """A fresh random lock id."""
    return uuid.uuid4().hex


class Storage(ABC):
    """Persistence + Inventory + Stat Query + Locking (R-81).

    `lock_lifetime` is `locking.timeout`; `retry_interval` the pause between
    acquisition attempts (`locking.retry_interval`)."""

    def __init__(self, lock_lifetime: float = 30.0, retry_interval: float = 1.0) -> None:
        self.lock_lifetime = float(lock_lifetime)
        self.retry_interval = float(retry_interval)

    # Persistence
    @abstractmethod
    def load(self, key: str) -> Entry | None:
        """The entry under `key`, or None."""

    @abstractmethod
    def save(self, key: str, entry: Entry) -> None:
        """Store `entry` under `key` (replacing any previous one)."""

    # Inventory
    @abstractmethod
    def list(self, prefix: str | None = None) -> builtins.list[str]:
        """Stored keys (sorted), optionally only those starting with `prefix`."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove `key`; True if it existed."""

    # Stat Query
    @abstractmethod
    def stat(self, key: str) -> StatInfo | None:
        """Size, modification time and content type of `key`, or None."""

    def exists(self, key: str) -> bool:
        """True if `key` is stored."""
        return self.stat(key) is not None

    # Locking
    @abstractmethod
    def try_acquire(self, key: str) -> Lock | None:
        """One non-blocking acquisition attempt."""

    @abstractmethod
    def release(self, lock: Lock) -> bool:
        """Release `lock` if it is still the holder (matching `lock_id`)."""

    @abstractmethod
    def is_locked(self, key: str) -> bool:
        """True while an unexpired lock on `key` exists."""

    def acquire(self, key: str, timeout: float | None = None) -> Lock:
        """Wait up to `timeout` (default `lock_lifetime`) for the lock on
        `key`, retrying every `retry_interval`; `TimeoutError` otherwise."""
        limit = self.lock_lifetime if timeout is None else float(timeout)
        end = time.monotonic() + limit
        while True:
            lock = self.try_acquire(key)
            if lock is not None:
                return lock
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"lock on {key!r} not obtained within {limit:g}s")
            time.sleep(min(self.retry_interval, left))

    def _new_lock(self, key: str) -> Lock:
        now = time.time()
        return Lock(key, new_lock_id(), now, now + self.lock_lifetime)

    def close(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release resources (connections)."""
