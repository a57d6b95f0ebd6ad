"""Secret-store connector IDs -> classes, and building a store from the
normalised `secrets` section (SPEC R-79, R-17)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from adapters.secrets.base import SecretStore
from adapters.secrets.dotenv import DotenvSecretStore
from adapters.secrets.encrypted_file import EncryptedFileSecretStore
from adapters.secrets.env import EnvSecretStore
from adapters.secrets.json_secrets import JsonSecretStore
from adapters.secrets.keyring_store import KeyringSecretStore
from adapters.secrets.memory import MemorySecretStore
from meshcore.errors import ConfigurationError

__all__ = ["SECRET_STORES", "create_store", "resolve_env_refs"]

SECRET_STORES: dict[str, type[SecretStore]] = {
    "modelmesh.env.v1": EnvSecretStore,
    "modelmesh.dotenv.v1": DotenvSecretStore,
    "modelmesh.json-secrets.v1": JsonSecretStore,
    "modelmesh.memory-secrets.v1": MemorySecretStore,
    "modelmesh.encrypted-file.v1": EncryptedFileSecretStore,
    "modelmesh.keyring.v1": KeyringSecretStore,
}

_ENV_AWARE = ("modelmesh.env.v1", "modelmesh.dotenv.v1")


def resolve_env_refs(value: Any, environ: Mapping[str, str], path: str) -> Any:
    """Resolve `${env:X}` / `${X}` inside the `secrets` section (R-13: no
    `${secrets:...}` there). A missing variable is a ConfigurationError."""
    from adapters.secrets.resolver import substitute

    if isinstance(value, str):
        missing: list[str] = []

        def lookup(kind: str | None, name: str) -> str | None:
            if kind == "secrets":
                raise ConfigurationError(
                    f"{path}: ${{secrets:...}} is not allowed inside the secrets section",
                    {"errors": [f"{path}: secrets reference inside the secrets section"]})
            return environ.get(name)

        out = substitute(value, lookup, missing)
        if missing:
            raise ConfigurationError(
                f"{path}: missing environment variable {', '.join(missing)}",
                {"errors": [f"{path}: missing {', '.join(missing)}"]})
        return out
    if isinstance(value, Mapping):
        return {k: resolve_env_refs(v, environ, f"{path}.{k}") for k, v in value.items()}
    return value


def create_store(
    section: Mapping[str, Any] | None,
    *,
    instance: SecretStore | None = None,
    environ: Mapping[str, str] | None = None,
    custom: Mapping[str, Any] | None = None,
) -> SecretStore:
    """The store the normalised `secrets` section names (or `instance`)."""
    if instance is not None:
        return instance
    env = os.environ if environ is None else environ
    section = section or {}
    cid = str(section.get("connector") or "modelmesh.env.v1")
    params = resolve_env_refs(dict(section.get("config") or {}), env, "secrets")
    factory: Callable[..., Any] | None = SECRET_STORES.get(cid)
    if factory is None and custom is not None:
        factory = custom.get(cid)
    if factory is None:
        raise ConfigurationError(f"secrets.connector: unknown secret store {cid!r}",
                                 {"errors": [f"secrets.connector: unknown store {cid!r}"]})
    if cid in _ENV_AWARE:
        params["environ"] = environ
    try:
        store = factory(**params)
    except TypeError as exc:
        raise ConfigurationError(f"secrets: bad parameters for {cid}: {exc}") from None
    return store  # type: ignore[no-any-return]
