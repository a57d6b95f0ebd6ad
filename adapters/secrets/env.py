"""`modelmesh.env.v1`: secrets from the process environment (SPEC R-79).

Read-only; `prefix` is prepended to every name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from adapters.secrets.base import SecretStore

__all__ = ["EnvSecretStore"]


class EnvSecretStore(SecretStore):
    """Process-environment store; `environ` replaces `os.environ` (tests)."""

    def __init__(self, prefix: str = "", environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ = environ

    def get(self, name: str) -> str:
        env = os.environ if self._environ is None else self._environ
        value = env.get(self.prefix + name)
        if value is None:
            raise KeyError(name)
        return value
