"""Sync policies (SPEC R-83, R-86, R-87): when state is read and written.

`in-memory` builds nothing. Every other policy loads `modelmesh/state` once
at construction; the engine restores it into the router as a
`StateRestored` event. The core emits `SaveState(snapshot)` itself (after
each state change for `immediate`, on a timer for `periodic`); the engine
hands each snapshot to `submit()`, and `flush()` writes the newest pending
one. Saves are coalesced: while one save is in flight, later snapshots
replace the pending one and the saver writes it when it is done, so at most
one save runs at a time and the newest state always ends up stored.
`close()` writes the final snapshot (every policy but `in-memory`).
The latest statistics flush (`submit_stats`) rides along: it is written
under `modelmesh/stats` (R-85) with the next state save and at close.
A lock not obtained within `locking.timeout` skips the save with a warning
trace; any other failure gives an error trace; the pending snapshot stays
queued for the next sync point. Nothing here ever raises into a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from adapters.storage.base import Storage
from adapters.storage.codecs import StateCodec

__all__ = ["CONFIG_KEY", "STATE_KEY", "STATS_KEY", "StateSync", "Trace"]

STATE_KEY = "modelmesh/state"
CONFIG_KEY = "modelmesh/config"
STATS_KEY = "modelmesh/stats"

Trace = Callable[[str, str, "str | None"], None]


def _no_trace(severity: str, message: str, error: str | None) -> None:
    return None


class StateSync:
    """Loads and saves router snapshots through a `Storage` and a codec."""

    def __init__(
        self,
        storage: Storage,
        codec: StateCodec,
        *,
        policy: str = "sync-on-boundary",
        locking: bool = False,
        lock_timeout: float = 30.0,
        trace: Trace | None = None,
        config_doc: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage = storage
        self.codec = codec
        self.policy = policy
        self.locking = locking
        self.lock_timeout = lock_timeout
        self.trace: Trace = trace or _no_trace
        self._config_doc = dict(config_doc) if config_doc is not None else None
        self._pending: dict[str, Any] | None = None
        self._stats: dict[str, Any] | None = None
        self._mutex = threading.Lock()
        self._saving = False
        self.saves = 0
        self.closed = False

    # ------------------------------------------------------------ load
    def load(self) -> dict[str, Any] | None:
        """The stored snapshot, or None (absent or unreadable: error trace)."""
        try:
            entry = self.storage.load(STATE_KEY)
            if entry is None:
                return None
            value = self.codec.decode(entry.data)
        except Exception as exc:
            self.trace("error", "state could not be loaded; starting from empty state",
                       f"{type(exc).__name__}: {exc}")
            return None
        if not isinstance(value, dict):
            self.trace("error", "stored state is not a mapping; starting from empty state",
                       None)
            return None
        return value

    # ------------------------------------------------------------ save
    @property
    def pending(self) -> bool:
        """True while a snapshot waits to be written."""
        with self._mutex:
            return self._pending is not None

    def submit(self, snapshot: dict[str, Any]) -> None:
        """Queue `snapshot` (replacing an older queued one)."""
        with self._mutex:
            self._pending = snapshot

    def submit_stats(self, stats: dict[str, Any]) -> None:
        """Keep `stats` (a statistics flush dict) for the next save (R-85)."""
        with self._mutex:
            self._stats = stats

    def flush(self) -> bool:
        """Write the queued snapshot unless another thread is already saving
        (that saver writes it). True if nothing is left pending by us."""
        with self._mutex:
            if self._saving or self._pending is None:
                return True
            self._saving = True
        try:
            while True:
                with self._mutex:
                    snapshot, stats = self._pending, self._stats
                    self._pending = None
                    if snapshot is None:
                        return True
                    self._stats = None
                if not self._write(snapshot, stats):
                    with self._mutex:
                        if self._pending is None:
                            self._pending = snapshot
                        if self._stats is None:
                            self._stats = stats
                    return False
        finally:
            with self._mutex:
                self._saving = False

    async def aflush(self) -> bool:
        """`flush()` on a worker thread (async client)."""
        import anyio.to_thread

        if not self.pending:
            return True
        return await anyio.to_thread.run_sync(self.flush)

    def _write(self, snapshot: dict[str, Any], stats: dict[str, Any] | None = None) -> bool:
        lock = None
        if self.locking:
            try:
                lock = self.storage.acquire(STATE_KEY, self.lock_timeout)
            except TimeoutError:
                self.trace("warning", f"state save skipped: lock not obtained within "
                                      f"{self.lock_timeout:g}s", None)
                return False
            except Exception as exc:
                self.trace("error", "state save failed (lock)", f"{type(exc).__name__}: {exc}")
                return False
        try:
            self.storage.save(STATE_KEY, self.codec.encode(snapshot))
            if self._config_doc is not None:
                self.storage.save(CONFIG_KEY, self.codec.encode(self._config_doc))
                self._config_doc = None
            if stats is not None:
                self.storage.save(STATS_KEY, self.codec.encode(stats))
            self.saves += 1
            return True
        except Exception as exc:
            self.trace("error", "state save failed; will retry at the next sync point",
                       f"{type(exc).__name__}: {exc}")
            return False
        finally:
            if lock is not None:
                try:
                    self.storage.release(lock)
                except Exception as exc:
                    self.trace("error", "state lock release failed",
                               f"{type(exc).__name__}: {exc}")

    def close(self, snapshot: dict[str, Any] | None,
              stats: dict[str, Any] | None = None) -> None:
        """Final save at shutdown (with the final statistics flush), then
        release the storage."""
        if self.closed:
            return
        self.closed = True
        if stats is not None:
            self.submit_stats(stats)
        if snapshot is not None:
            self.submit(snapshot)
        self.flush()
        try:
            self.storage.close()
        except Exception as exc:
            self.trace("error", "storage close failed", f"{type(exc).__name__}: {exc}")
