"""`modelmesh.memory-secrets.v1`: an in-memory map with Management (SPEC R-79)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from adapters.secrets.base import ManagedSecretStore

__all__ = ["MemorySecretStore"]


class MemorySecretStore(ManagedSecretStore):
    """Secrets held in a dict; `secrets` seeds it."""

    def __init__(self, secrets: Mapping[str, object] | None = None) -> None:
        self._data = {str(k): str(v) for k, v in (secrets or {}).items()}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        with self._lock:
            return self._data[name]

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self._data[name] = str(value)

    def list(self) -> list[str]:
        with self._lock:
            return sorted(self._data)

    def delete(self, name: str) -> None:
        with self._lock:
            del self._data[name]
