"""Secret references in configuration strings (SPEC R-13, R-78).

`${secrets:NAME}` resolves through the configured store, `${env:NAME}` and
`${NAME}` through the process environment, `$${` is a literal `${`.
Store values are cached (`cache_enabled`, `cache_ttl`); a cached value older
than the TTL is read again on next use. `reresolve()` is the hook used
before a provider is reactivated (`reload_on_rotation`). A missing name
with `fail_on_missing: true` raises `ConfigurationError`; otherwise it
becomes `""` and a warning names the reference, never a value (R-80).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from adapters.secrets.base import SecretStore
from adapters.secrets.env import EnvSecretStore
from meshcore.errors import ConfigurationError

__all__ = ["REFERENCE", "SecretResolver", "substitute"]

REFERENCE = re.compile(r"\$\$\{|\$\{(?:(secrets|env):)?([A-Za-z0-9_./-]+)\}")

Lookup = Callable[[str | None, str], "str | None"]


def substitute(text: str, lookup: Lookup, missing: list[str]) -> str:
    """Replace every reference in `text` with `lookup(kind, name)`; a `None`
    answer appends the reference to `missing` and yields ""."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        value = lookup(m.group(1), m.group(2))
        if value is None:
            missing.append(m.group(0))
            return ""
        return value

    return REFERENCE.sub(sub, text)


class SecretResolver:
    """Resolves references with a store, a TTL cache and the R-78 options."""

    def __init__(
        self,
        store: SecretStore | None = None,
        *,
        cache_enabled: bool = True,
        cache_ttl: float = 300.0,
        fail_on_missing: bool = True,
        reload_on_rotation: bool = True,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._environ = environ
        self.store: SecretStore = store if store is not None else EnvSecretStore(
            environ=environ)
        self.cache_enabled = cache_enabled
        self.cache_ttl = float(cache_ttl)
        self.fail_on_missing = fail_on_missing
        self.reload_on_rotation = reload_on_rotation
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.warnings: list[str] = []

    @classmethod
    def from_section(
        cls,
        section: Mapping[str, Any] | None,
        *,
        instance: SecretStore | None = None,
        environ: Mapping[str, str] | None = None,
        custom: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> SecretResolver:
        """A resolver for the normalised `secrets` section (R-78, R-79)."""
        from adapters.secrets.registry import create_store

        res = dict((section or {}).get("resolution") or {})
        store = create_store(section, instance=instance, environ=environ, custom=custom)
        return cls(store, cache_enabled=bool(res.get("cache_enabled", True)),
                   cache_ttl=float(res.get("cache_ttl", 300.0)),
                   fail_on_missing=bool(res.get("fail_on_missing", True)),
                   reload_on_rotation=bool(res.get("reload_on_rotation", True)),
                   environ=environ, clock=clock)

    # ------------------------------------------------------------ lookups
    def secret(self, name: str) -> str | None:
        """The store's value of `name` (cached), or None when absent."""
        now = self._clock()
        if self.cache_enabled:
            with self._lock:
                hit = self._cache.get(name)
            if hit is not None and now - hit[1] < self.cache_ttl:
                return hit[0]
        try:
            value = self.store.get(name)
        except KeyError:
            with self._lock:
                self._cache.pop(name, None)
            return None
        if self.cache_enabled:
            with self._lock:
                self._cache[name] = (value, now)
        return value

    def _lookup(self, kind: str | None, name: str) -> str | None:
        if kind == "secrets":
            return self.secret(name)
        env = os.environ if self._environ is None else self._environ
        return env.get(name)

    def invalidate(self, name: str | None = None) -> None:
        """Drop one cached value, or all of them."""
        with self._lock:
            if name is None:
                self._cache.clear()
            else:
                self._cache.pop(name, None)

    # ------------------------------------------------------------ strings
    def resolve_text(self, text: str, missing: list[str] | None = None) -> str:
        """Substitute every reference in `text`; missing ones go to `missing`."""
        return substitute(text, self._lookup, [] if missing is None else missing)

    def resolve(self, text: str, where: str = "") -> str:
        """`resolve_text` applying `fail_on_missing` (R-13)."""
        missing: list[str] = []
        out = self.resolve_text(text, missing)
        if missing:
            self._missing([f"{where or 'value'}: missing secret {', '.join(missing)}"])
        return out

    def reresolve(self, text: str, where: str = "") -> str:
        """The `reload_on_rotation` hook: resolve again before a provider is
        reactivated, honouring `cache_ttl`. Never raises: a missing secret
        resolves to "" with a warning."""
        if not self.reload_on_rotation:
            return self.resolve_text(text)
        missing: list[str] = []
        out = self.resolve_text(text, missing)
        if missing:
            self.warnings.append(f"{where or 'value'}: missing secret {', '.join(missing)}")
        return out

    def _missing(self, problems: list[str]) -> None:
        if self.fail_on_missing:
            raise ConfigurationError(
                "unresolved secret reference(s): " + "; ".join(problems),
                {"errors": problems})
        self.warnings.extend(problems)

    def check_tree(self, value: Any, path: str = "") -> list[str]:
        """Resolve every string in `value` (skipping the `secrets` section at
        top level); raise or warn for the missing ones. Returns the warnings."""
        problems: list[str] = []

        def walk(v: Any, p: str) -> None:
            if isinstance(v, str):
                if "${" in v:
                    missing: list[str] = []
                    self.resolve_text(v, missing)
                    if missing:
                        problems.append(f"{p}: missing secret {', '.join(missing)}")
            elif isinstance(v, Mapping):
                for k, item in v.items():
                    if p == "" and k == "secrets":
                        continue
                    walk(item, f"{p}.{k}" if p else str(k))
            elif isinstance(v, (list, tuple)):
                for i, item in enumerate(v):
                    walk(item, f"{p}[{i}]")

        walk(value, path)
        if problems and self.fail_on_missing:
            self._missing(problems)
        return problems
