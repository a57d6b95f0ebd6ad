"""`modelmesh.sqlite.v1`: state in an SQLite database (SPEC R-84).

One table (`table`, default `modelmesh_state`) maps keys to blobs with
their content type and modification time; locks live in `<table>_locks`.
The database runs in WAL mode; every write is its own transaction, so a
crash leaves the previous value.
"""

from __future__ import annotations

import builtins
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

from adapters.storage.base import Entry, Lock, StatInfo, Storage
from meshcore.errors import ConfigurationError

__all__ = ["SqliteStorage"]

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SqliteStorage(Storage):
    """SQLite-backed storage; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str] = "./mesh-state.db",
                 table: str = "modelmesh_state", lock_lifetime: float = 30.0,
                 retry_interval: float = 1.0) -> None:
        super().__init__(lock_lifetime, retry_interval)
        if not _TABLE.fullmatch(table):
            raise ConfigurationError(f"storage.table: invalid SQL table name {table!r}")
        self.path = Path(path)
        self.table = table
        self._mutex = threading.Lock()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                   isolation_level=None, timeout=30.0)
        with self._mutex:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, data BLOB NOT NULL, "
                "content_type TEXT NOT NULL, last_modified REAL NOT NULL)")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table}_locks (key TEXT PRIMARY KEY, "
                "lock_id TEXT NOT NULL, acquired_at REAL NOT NULL, expires_at REAL NOT NULL)")

    def load(self, key: str) -> Entry | None:
        with self._mutex:
            row = self._db.execute(
                f"SELECT data, content_type FROM {self.table} WHERE key = ?", (key,)).fetchone()
        return None if row is None else Entry(bytes(row[0]), str(row[1]))

    def save(self, key: str, entry: Entry) -> None:
        with self._mutex:
            self._db.execute(
                f"INSERT INTO {self.table} (key, data, content_type, last_modified) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data, "
                "content_type = excluded.content_type, last_modified = excluded.last_modified",
                (key, sqlite3.Binary(entry.data), entry.content_type, time.time()))

    def list(self, prefix: str | None = None) -> builtins.list[str]:
        with self._mutex:
            rows = self._db.execute(f"SELECT key FROM {self.table} ORDER BY key").fetchall()
        return [str(r[0]) for r in rows if prefix is None or str(r[0]).startswith(prefix)]

    def delete(self, key: str) -> bool:
        with self._mutex:
            cur = self._db.execute(f"DELETE FROM {self.table} WHERE key = ?", (key,))
        return cur.rowcount > 0

    def stat(self, key: str) -> StatInfo | None:
        with self._mutex:
            row = self._db.execute(
                f"SELECT length(data), last_modified, content_type FROM {self.table} "
                "WHERE key = ?", (key,)).fetchone()
        return None if row is None else StatInfo(key, int(row[0]), float(row[1]), str(row[2]))

    def try_acquire(self, key: str) -> Lock | None:
        lock = self._new_lock(key)
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(f"DELETE FROM {self.table}_locks WHERE key = ? AND expires_at "
                                 "<= ?", (key, lock.acquired_at))
                cur = self._db.execute(
                    f"INSERT OR IGNORE INTO {self.table}_locks VALUES (?, ?, ?, ?)",
                    (key, lock.lock_id, lock.acquired_at, lock.expires_at))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return lock if cur.rowcount == 1 else None

    def release(self, lock: Lock) -> bool:
        with self._mutex:
            cur = self._db.execute(f"DELETE FROM {self.table}_locks WHERE key = ? AND "
                                   "lock_id = ?", (lock.key, lock.lock_id))
        return cur.rowcount > 0

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            row = self._db.execute(f"SELECT 1 FROM {self.table}_locks WHERE key = ? AND "
                                   "expires_at > ?", (key, time.time())).fetchone()
        return row is not None

    def close(self) -> None:
        with self._mutex:
            self._db.close()
