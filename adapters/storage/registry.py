"""Storage connector IDs -> classes and building the state sync from the
normalised `storage` section (SPEC R-82, R-84)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.storage.base import Storage
from adapters.storage.codecs import StateCodec
from adapters.storage.local_file import LocalFileStorage
from adapters.storage.memory import MemoryStorage
from adapters.storage.sqlite import SqliteStorage
from adapters.storage.sync import StateSync, Trace
from meshcore.errors import ConfigurationError

__all__ = ["STORAGES", "create_storage", "open_state", "redact_config"]

STORAGES: dict[str, type[Storage]] = {
    "modelmesh.memory.v1": MemoryStorage,
    "modelmesh.local-file.v1": LocalFileStorage,
    "modelmesh.sqlite.v1": SqliteStorage,
}

_SENSITIVE = ("api_key", "api_keys", "token", "tokens", "passphrase", "encryption_key",
              "password", "secret", "secrets")


def create_storage(section: Mapping[str, Any], *, instance: Storage | None = None,
                   custom: Mapping[str, Any] | None = None) -> Storage:
    """The storage the normalised `storage` section names (or `instance`)."""
    locking = dict(section.get("locking") or {})
    lifetime = float(locking.get("timeout", 30.0))
    retry = float(locking.get("retry_interval", 1.0))
    if instance is not None:
        return instance
    cid = str(section.get("connector") or "modelmesh.memory.v1")
    factory: Any = STORAGES.get(cid)
    if factory is None and custom is not None:
        factory = custom.get(cid)
    if factory is None:
        raise ConfigurationError(f"storage.connector: connector not available: {cid!r}",
                                 {"errors": [f"storage.connector: unknown {cid!r}"]})
    params = dict(section.get("config") or {})
    if cid in STORAGES:
        params.update(lock_lifetime=lifetime, retry_interval=retry)
    try:
        storage: Storage = factory(**params)
    except TypeError as exc:
        raise ConfigurationError(f"storage: bad parameters for {cid}: {exc}") from None
    return storage


def redact_config(value: Any) -> Any:
    """The config with literal credentials replaced (references are kept, R-85)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if str(k) in _SENSITIVE and not _is_reference(v):
                out[str(k)] = "[redacted]"
            else:
                out[str(k)] = redact_config(v)
        return out
    if isinstance(value, (list, tuple)):
        return [redact_config(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(type(value).__name__)


def _is_reference(v: Any) -> bool:
    if isinstance(v, str):
        return "${" in v or v == ""
    if isinstance(v, (list, tuple)):
        return all(_is_reference(x) for x in v)
    return v is None


def _constant(value: str) -> Callable[[], str]:
    return lambda: value


def open_state(
    section: Mapping[str, Any] | None,
    *,
    instance: Storage | None = None,
    secret: Any = None,
    custom: Mapping[str, Any] | None = None,
    trace: Trace | None = None,
    config_doc: Mapping[str, Any] | None = None,
    pbkdf2_iterations: int = 600000,
) -> StateSync | None:
    """A `StateSync` for the section, or None for the `in-memory` policy.
    `secret(name) -> str | None` reads the encryption secret through the
    secret store; a missing one is a ConfigurationError."""
    section = section or {}
    pers = dict(section.get("persistence") or {})
    policy = str(pers.get("sync_policy", "in-memory"))
    if policy == "in-memory":
        return None
    key_fn: Callable[[], str] | None = None
    if pers.get("encryption"):
        name = str(pers.get("encryption_secret") or "MODELMESH_STORAGE_KEY")
        value = secret(name) if secret is not None else None
        if not value:
            raise ConfigurationError(
                f"storage.persistence.encryption_secret: secret {name!r} not found in the "
                "secret store", {"errors": [f"storage.persistence.encryption_secret: "
                                            f"missing secret {name!r}"]})
        key_fn = _constant(str(value))
    codec = StateCodec(str(pers.get("format", "json")), bool(pers.get("compression", False)),
                       key_fn, pbkdf2_iterations=pbkdf2_iterations)
    storage = create_storage(section, instance=instance, custom=custom)
    locking = dict(section.get("locking") or {})
    return StateSync(storage, codec, policy=policy, locking=bool(locking.get("enabled", False)),
                     lock_timeout=float(locking.get("timeout", 30.0)), trace=trace,
                     config_doc=redact_config(config_doc) if config_doc is not None else None)
