"""`modelmesh.keyring.v1`: secrets in the OS keyring (optional extra, SPEC R-79).

Needs the `keyring` package (`pip install modelmesh-sansio[keyring]`).
Keyrings cannot enumerate entries, so `list()` reads an index entry (a JSON
list of names) kept under the reserved name `__modelmesh_index__`.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.secrets.base import ManagedSecretStore
from meshcore.errors import ConfigurationError

__all__ = ["INDEX_NAME", "KeyringSecretStore"]

INDEX_NAME = "__modelmesh_index__"


class KeyringSecretStore(ManagedSecretStore):
    """OS keyring store under `service_name`."""

    def __init__(self, service_name: str = "modelmesh", backend: Any = None) -> None:
        if backend is None:
            try:
                import keyring
            except ImportError:
                raise ConfigurationError(
                    "modelmesh.keyring.v1 needs the 'keyring' package "
                    "(pip install modelmesh-sansio[keyring])") from None
            backend = keyring
        self._kr = backend
        self.service_name = service_name

    def _index(self) -> list[str]:
        raw = self._kr.get_password(self.service_name, INDEX_NAME)
        try:
            names = json.loads(raw) if raw else []
        except ValueError:
            names = []
        return sorted(str(n) for n in names) if isinstance(names, list) else []

    def _write_index(self, names: list[str]) -> None:
        self._kr.set_password(self.service_name, INDEX_NAME, json.dumps(sorted(set(names))))

    def get(self, name: str) -> str:
        value = self._kr.get_password(self.service_name, name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def set(self, name: str, value: str) -> None:
        self._kr.set_password(self.service_name, name, value)
        names = self._index()
        if name not in names:
            self._write_index([*names, name])

    def list(self) -> list[str]:
        return self._index()

    def delete(self, name: str) -> None:
        if self._kr.get_password(self.service_name, name) is None:
            raise KeyError(name)
        self._kr.delete_password(self.service_name, name)
        self._write_index([n for n in self._index() if n != name])
