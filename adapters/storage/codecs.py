"""Serialisation of persisted values (SPEC R-82).

`encode`: format (json, yaml, msgpack) -> optional gzip -> optional
AES-256-GCM. An encrypted blob is `MMENC1` + 16-byte salt + 12-byte nonce +
ciphertext/tag; the key is PBKDF2-HMAC-SHA256(secret, salt, 600000) where
the secret is read from the secret store (`encryption_secret`). The derived
key is cached per salt, so one process derives it once. `decode` recognises
encryption and gzip by their magic bytes, so turning compression on or off
never strands an existing file; an unencrypted file is refused while
encryption is on.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from typing import Any

from adapters.secrets.crypto import (
    SALT_BYTES,
    DecryptionError,
    decrypt,
    derive_key,
    encrypt,
    require_cryptography,
)
from adapters.storage.base import Entry
from meshcore.errors import ConfigurationError

__all__ = ["ENCRYPTED_MAGIC", "FORMATS", "CodecError", "StateCodec"]

ENCRYPTED_MAGIC = b"MMENC1"
FORMATS = ("json", "yaml", "msgpack")
_CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml",
                  "msgpack": "application/msgpack"}


class CodecError(Exception):
    """A stored value could not be decoded (corrupt, wrong key, wrong format)."""


def _require(fmt: str) -> Any:
    if fmt == "yaml":
        try:
            import yaml
        except ImportError:
            raise ConfigurationError("storage.persistence.format yaml needs PyYAML "
                                     "(pip install modelmesh-sansio[yaml])") from None
        return yaml
    if fmt == "msgpack":
        try:
            import msgpack
        except ImportError:
            raise ConfigurationError("storage.persistence.format msgpack needs msgpack "
                                     "(pip install modelmesh-sansio[msgpack])") from None
        return msgpack
    if fmt != "json":
        raise ConfigurationError(f"storage.persistence.format: unknown format {fmt!r}")
    return json


class StateCodec:
    """Encode/decode values for storage with the configured options."""

    def __init__(self, format: str = "json", compression: bool = False,
                 secret: Callable[[], str] | None = None,
                 pbkdf2_iterations: int = 600000) -> None:
        self.format = format
        self._lib = _require(format)
        self.compression = compression
        self._secret = secret
        self.iterations = pbkdf2_iterations
        self._keys: dict[bytes, bytes] = {}
        self._salt: bytes | None = None
        if secret is not None:
            require_cryptography("storage encryption")

    @property
    def encrypted(self) -> bool:
        """True when values are encrypted at rest."""
        return self._secret is not None

    @property
    def content_type(self) -> str:
        """The content type of encoded values."""
        if self.encrypted:
            return "application/octet-stream"
        if self.compression:
            return "application/gzip"
        return _CONTENT_TYPES[self.format]

    def _key(self, salt: bytes) -> bytes:
        key = self._keys.get(salt)
        if key is None:
            assert self._secret is not None
            key = derive_key(self._secret(), salt, self.iterations)
            self._keys[salt] = key
        return key

    def _serialise(self, value: Any) -> bytes:
        if self.format == "json":
            return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if self.format == "yaml":
            text: str = self._lib.safe_dump(value, sort_keys=True)
            return text.encode("utf-8")
        packed: bytes = self._lib.packb(value, use_bin_type=True)
        return packed

    def _parse(self, data: bytes) -> Any:
        if self.format == "json":
            return json.loads(data.decode("utf-8"))
        if self.format == "yaml":
            return self._lib.safe_load(data.decode("utf-8"))
        return self._lib.unpackb(data, raw=False, strict_map_key=False)

    def encode(self, value: Any) -> Entry:
        """`value` as stored bytes."""
        data = self._serialise(value)
        if self.compression:
            data = gzip.compress(data, mtime=0)
        if self._secret is not None:
            if self._salt is None:
                self._salt = os.urandom(SALT_BYTES)
            salt = self._salt
            data = ENCRYPTED_MAGIC + salt + encrypt(self._key(salt), data, ENCRYPTED_MAGIC)
        return Entry(data, self.content_type)

    def decode(self, data: bytes) -> Any:
        """Stored bytes back to a value; `CodecError` when impossible."""
        if data.startswith(ENCRYPTED_MAGIC):
            if self._secret is None:
                raise CodecError("value is encrypted but storage encryption is off")
            head = len(ENCRYPTED_MAGIC)
            salt = data[head:head + SALT_BYTES]
            try:
                data = decrypt(self._key(salt), data[head + SALT_BYTES:], ENCRYPTED_MAGIC)
            except DecryptionError as exc:
                raise CodecError(f"cannot decrypt stored state: {exc}") from None
            self._salt = salt
        elif self._secret is not None:
            raise CodecError("stored state is not encrypted but storage encryption is on")
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise CodecError(f"corrupt gzip data: {exc}") from None
        try:
            return self._parse(data)
        except Exception as exc:
            raise CodecError(f"cannot parse stored {self.format}: {exc}") from None
