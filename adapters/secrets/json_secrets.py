"""`modelmesh.json-secrets.v1`: secrets in a JSON file (SPEC R-79).

A name is looked up as a key of the scope object first, then as a dotted
path (`db.password` traverses `{"db": {"password": ...}}`). `json_path`
(dotted) narrows the scope to a sub-object. `list()` returns the dotted
paths of every scalar leaf. Management rewrites the whole file atomically.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from adapters.secrets.base import ManagedSecretStore, atomic_write
from meshcore.errors import ConfigurationError

__all__ = ["JsonSecretStore"]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


class JsonSecretStore(ManagedSecretStore):
    """A JSON-file store; dotted names traverse objects."""

    def __init__(self, file_path: str | os.PathLike[str], json_path: str = "") -> None:
        self.path = Path(file_path)
        self.scope = [p for p in json_path.split(".") if p] if json_path else []
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ConfigurationError(
                f"json-secrets: cannot parse {str(self.path)!r}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"json-secrets: {str(self.path)!r} must hold an object")
        return data

    def _scope(self, data: dict[str, Any], create: bool) -> dict[str, Any] | None:
        node: Any = data
        for part in self.scope:
            if not isinstance(node, dict):
                return None
            if part not in node and create:
                node[part] = {}
            node = node.get(part)
        return node if isinstance(node, dict) else None

    def get(self, name: str) -> str:
        scope = self._scope(self._load(), False)
        if scope is None:
            raise KeyError(name)
        if name in scope and not isinstance(scope[name], dict):
            return _text(scope[name])
        node: Any = scope
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(name)
            node = node[part]
        if isinstance(node, dict) or node is None:
            raise KeyError(name)
        return _text(node)

    def list(self) -> list[str]:
        scope = self._scope(self._load(), False) or {}
        out: list[str] = []

        def walk(node: dict[str, Any], prefix: str) -> None:
            for k, v in node.items():
                if isinstance(v, dict):
                    walk(v, f"{prefix}{k}.")
                elif v is not None:
                    out.append(prefix + k)

        walk(scope, "")
        return sorted(out)

    def _save(self, data: dict[str, Any]) -> None:
        atomic_write(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def set(self, name: str, value: str) -> None:
        with self._lock:
            data = self._load()
            scope = self._scope(data, True)
            if scope is None:
                raise ConfigurationError(
                    f"json-secrets: json_path {'.'.join(self.scope)!r} is not an object")
            if name in scope and not isinstance(scope[name], dict):
                scope[name] = value
            else:
                parts = name.split(".")
                node = scope
                for part in parts[:-1]:
                    nxt = node.get(part)
                    if not isinstance(nxt, dict):
                        nxt = node[part] = {}
                    node = nxt
                node[parts[-1]] = value
            self._save(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._load()
            scope = self._scope(data, False)
            if scope is None:
                raise KeyError(name)
            if name in scope and not isinstance(scope[name], dict):
                del scope[name]
            else:
                parts = name.split(".")
                node: Any = scope
                for part in parts[:-1]:
                    node = node.get(part) if isinstance(node, dict) else None
                if not isinstance(node, dict) or isinstance(node.get(parts[-1]), dict) \
                        or parts[-1] not in node:
                    raise KeyError(name)
                del node[parts[-1]]
            self._save(data)
