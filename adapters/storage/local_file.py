"""`modelmesh.local-file.v1`: state in a local file (SPEC R-84).

The key `modelmesh/state` lives at `path` itself; any other key lives
beside it at `<path>~<quoted key>`. Every write goes to a temporary file in
the same directory, is fsynced, renamed over the target with `os.replace`
and the directory is fsynced, so a crash at any moment leaves either the
old or the new file. With `backup: true` the previous file is kept as
`<file>.bak` (hard link, so the swap stays atomic). Locks are advisory lock
files `<file>.lock` created with O_EXCL, holding the lock id and expiry; an
expired lock file is broken by the next acquirer.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import time
from pathlib import Path
from urllib.parse import quote, unquote

from adapters.secrets.base import atomic_write
from adapters.storage.base import Entry, Lock, StatInfo, Storage

__all__ = ["PRIMARY_KEY", "LocalFileStorage", "sniff_content_type"]

PRIMARY_KEY = "modelmesh/state"


def sniff_content_type(data: bytes) -> str:
    """A content type guessed from the first bytes (files carry no metadata)."""
    if data[:2] == b"\x1f\x8b":
        return "application/gzip"
    if data[:5] == b"MMENC":
        return "application/octet-stream"
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return "application/json"
    return "application/octet-stream"


class LocalFileStorage(Storage):
    """File-backed storage; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str] = "./mesh-state.json", backup: bool = False,
                 lock_lifetime: float = 30.0, retry_interval: float = 1.0) -> None:
        super().__init__(lock_lifetime, retry_interval)
        self.path = Path(path)
        self.backup = backup

    def file_for(self, key: str) -> Path:
        """The file that holds `key`."""
        if key == PRIMARY_KEY:
            return self.path
        return self.path.with_name(f"{self.path.name}~{quote(key, safe='')}")

    # ------------------------------------------------------------ persistence
    def load(self, key: str) -> Entry | None:
        try:
            data = self.file_for(key).read_bytes()
        except FileNotFoundError:
            return None
        return Entry(data, sniff_content_type(data))

    def save(self, key: str, entry: Entry) -> None:
        target = self.file_for(key)
        if self.backup and target.exists():
            bak = target.with_name(target.name + ".bak")
            tmp = target.with_name(f".{target.name}.bak.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.link(target, tmp)
            os.replace(tmp, bak)
        atomic_write(target, entry.data)

    # ------------------------------------------------------------ inventory
    def list(self, prefix: str | None = None) -> builtins.list[str]:
        keys: builtins.list[str] = []
        if self.path.exists():
            keys.append(PRIMARY_KEY)
        directory = self.path.parent
        marker = self.path.name + "~"
        if directory.is_dir():
            for p in directory.iterdir():
                name = p.name
                if name.startswith(marker) and not name.endswith((".bak", ".lock")):
                    keys.append(unquote(name[len(marker):]))
        return sorted(k for k in keys if prefix is None or k.startswith(prefix))

    def delete(self, key: str) -> bool:
        try:
            self.file_for(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def stat(self, key: str) -> StatInfo | None:
        f = self.file_for(key)
        try:
            st = f.stat()
            with f.open("rb") as fh:
                head = fh.read(16)
        except FileNotFoundError:
            return None
        return StatInfo(key, st.st_size, st.st_mtime, sniff_content_type(head))

    # ------------------------------------------------------------ locking
    def _lock_file(self, key: str) -> Path:
        f = self.file_for(key)
        return f.with_name(f.name + ".lock")

    def _read_lock(self, path: Path) -> Lock | None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return Lock(str(doc["key"]), str(doc["lock_id"]), float(doc["acquired_at"]),
                        float(doc["expires_at"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # Half-written or foreign: judge it by its age.
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                return None
            return Lock("", "", mtime, mtime + self.lock_lifetime)

    def try_acquire(self, key: str) -> Lock | None:
        path = self._lock_file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = self._new_lock(key)
        body = json.dumps({"key": key, "lock_id": lock.lock_id, "acquired_at": lock.acquired_at,
                           "expires_at": lock.expires_at, "pid": os.getpid()}).encode()
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                held = self._read_lock(path)
                if held is not None and held.expires_at > time.time():
                    return None
                # Expired: break it (rename first so two breakers cannot both win).
                stale = path.with_name(f"{path.name}.{lock.lock_id}.stale")
                try:
                    os.replace(path, stale)
                    stale.unlink()
                except FileNotFoundError:
                    pass
                continue
            try:
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            return lock
        return None

    def release(self, lock: Lock) -> bool:
        path = self._lock_file(lock.key)
        held = self._read_lock(path)
        if held is None or held.lock_id != lock.lock_id:
            return False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True

    def is_locked(self, key: str) -> bool:
        held = self._read_lock(self._lock_file(key))
        return held is not None and held.expires_at > time.time()
