"""`modelmesh.encrypted-file.v1`: secrets in an AES-256-GCM file (SPEC R-79).

File format (JSON): `{"version": 1, "algorithm": "aes-256-gcm", "salt":
b64, "data": b64}` where `salt` is 16 random bytes and `data` is a 12-byte
nonce followed by the ciphertext and GCM tag of a JSON object
`{name: value}`. The key is `encryption_key` (64 hex chars) when given,
else PBKDF2-HMAC-SHA256(`passphrase`, salt, `pbkdf2_iterations`). A wrong
key raises `ConfigurationError` naming the file; nothing is ever read or
written in plain text.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from pathlib import Path
from typing import Any

from adapters.secrets.base import ManagedSecretStore, atomic_write
from adapters.secrets.crypto import (
    SALT_BYTES,
    DecryptionError,
    decrypt,
    derive_key,
    encrypt,
    require_cryptography,
)
from meshcore.errors import ConfigurationError

__all__ = ["EncryptedFileSecretStore"]

_AAD = b"modelmesh.encrypted-file.v1"


class EncryptedFileSecretStore(ManagedSecretStore):
    """AES-256-GCM encrypted JSON map of secrets."""

    def __init__(self, file_path: str | os.PathLike[str], passphrase: str | None = None,
                 encryption_key: str | None = None, pbkdf2_iterations: int = 600000) -> None:
        require_cryptography("modelmesh.encrypted-file.v1")
        self.path = Path(file_path)
        self.iterations = int(pbkdf2_iterations)
        if self.iterations < 1:
            raise ConfigurationError("encrypted-file: pbkdf2_iterations must be >= 1")
        self._raw_key: bytes | None = None
        if encryption_key:
            try:
                self._raw_key = bytes.fromhex(encryption_key)
            except ValueError:
                self._raw_key = None
            if self._raw_key is None or len(self._raw_key) != 32:
                raise ConfigurationError(
                    "encrypted-file: encryption_key must be 64 hexadecimal characters")
        elif not passphrase:
            raise ConfigurationError(
                "encrypted-file: either passphrase or encryption_key is required")
        self._passphrase = passphrase
        self._derived: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def _key(self, salt: bytes) -> bytes:
        if self._raw_key is not None:
            return self._raw_key
        key = self._derived.get(salt)
        if key is None:
            assert self._passphrase is not None
            key = derive_key(self._passphrase, salt, self.iterations)
            self._derived = {salt: key}
        return key

    def _bad(self, why: str) -> ConfigurationError:
        return ConfigurationError(f"encrypted-file: cannot decrypt {str(self.path)!r}: {why}",
                                  {"file": str(self.path)})

    def _load(self) -> tuple[bytes, dict[str, str]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return os.urandom(SALT_BYTES), {}
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("version") != 1 \
                    or doc.get("algorithm") != "aes-256-gcm":
                raise self._bad("unsupported format (expected version 1, aes-256-gcm)")
            salt = base64.b64decode(doc["salt"], validate=True)
            blob = base64.b64decode(doc["data"], validate=True)
        except ConfigurationError:
            raise
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise self._bad("not an encrypted secrets file") from None
        if len(salt) != SALT_BYTES:
            raise self._bad("salt must be 16 bytes")
        try:
            plain = decrypt(self._key(salt), blob, _AAD)
        except DecryptionError:
            raise self._bad("wrong passphrase or key, or the file is corrupted") from None
        data = json.loads(plain)
        if not isinstance(data, dict):
            raise self._bad("payload is not an object")
        return salt, {str(k): str(v) for k, v in data.items()}

    def _save(self, salt: bytes, data: dict[str, str]) -> None:
        blob = encrypt(self._key(salt), json.dumps(data, sort_keys=True).encode(), _AAD)
        doc: dict[str, Any] = {
            "version": 1,
            "algorithm": "aes-256-gcm",
            "salt": base64.b64encode(salt).decode("ascii"),
            "data": base64.b64encode(blob).decode("ascii"),
        }
        atomic_write(self.path, json.dumps(doc, indent=2).encode() + b"\n", 0o600)

    def get(self, name: str) -> str:
        with self._lock:
            return self._load()[1][name]

    def list(self) -> list[str]:
        with self._lock:
            return sorted(self._load()[1])

    def set(self, name: str, value: str) -> None:
        with self._lock:
            salt, data = self._load()
            data[name] = str(value)
            self._save(salt, data)

    def delete(self, name: str) -> None:
        with self._lock:
            salt, data = self._load()
            del data[name]
            self._save(salt, data)
