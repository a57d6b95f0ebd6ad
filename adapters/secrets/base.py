"""Secret-store interfaces (SPEC R-77) and the helpers every store shares.

Resolution is required: `get(name) -> str`, raising `KeyError` when the
name is absent. Management is optional: `set`, `list` (names only) and
`delete` (`KeyError` when absent). A store without Management is rejected by
the CLI management commands with "store is read-only".
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from meshcore.errors import ModelMeshError

__all__ = [
    "ManagedSecretStore",
    "ReadOnlyStoreError",
    "SecretStore",
    "atomic_write",
    "require_management",
]


class ReadOnlyStoreError(ModelMeshError):
    """A management operation on a store that has no Management interface."""

    def __init__(self, message: str = "store is read-only") -> None:
        super().__init__(message)


class SecretStore(ABC):
    """Resolution interface (R-77): every secret store implements `get`."""

    @abstractmethod
    def get(self, name: str) -> str:
        """The value of `name`; `KeyError` when absent."""


class ManagedSecretStore(SecretStore):
    """Resolution plus Management (R-77)."""

    @abstractmethod
    def set(self, name: str, value: str) -> None:
        """Create or replace `name`."""

    @abstractmethod
    def list(self) -> list[str]:
        """Every stored name (never values), sorted."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove `name`; `KeyError` when absent."""


def require_management(store: object) -> ManagedSecretStore:
    """`store` if it supports Management, else `ReadOnlyStoreError`."""
    if isinstance(store, ManagedSecretStore):
        return store
    if all(callable(getattr(store, m, None)) for m in ("get", "set", "list", "delete")):
        return store  # type: ignore[return-value]  # duck-typed custom store
    raise ReadOnlyStoreError()


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, rename it
    over `path` and fsync the directory: readers see the old or the new
    content, never a torn one. `mode` defaults to the existing file's mode,
    else 0o600 (secret files are private)."""
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            mode = 0o600
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename inside it is durable (POSIX only)."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
