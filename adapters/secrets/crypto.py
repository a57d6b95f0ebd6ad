"""AES-256-GCM and PBKDF2-HMAC-SHA256 through the `cryptography` package.

Used by the encrypted-file secret store and by storage encryption at rest.
There is no fallback: without `cryptography` every entry point raises
`ConfigurationError` (SPEC R-79, R-82).
"""

from __future__ import annotations

import os
from typing import Any

from meshcore.errors import ConfigurationError

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "SALT_BYTES",
    "DecryptionError",
    "decrypt",
    "derive_key",
    "encrypt",
    "require_cryptography",
]

SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """Authentication failed: wrong key or tampered data."""


def require_cryptography(what: str) -> Any:
    """The `cryptography` AESGCM class, or ConfigurationError naming `what`."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ConfigurationError(
            f"{what} needs the 'cryptography' package (pip install cryptography); "
            "there is no unencrypted fallback"
        ) from None
    return AESGCM


def derive_key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA256 -> a 32-byte key."""
    require_cryptography("key derivation")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt,
                     iterations=iterations)
    return kdf.derive(passphrase.encode("utf-8"))


def encrypt(key: bytes, plaintext: bytes, aad: bytes | None = None) -> bytes:
    """A fresh 12-byte nonce followed by the AES-256-GCM ciphertext and tag."""
    aesgcm = require_cryptography("encryption")
    nonce = os.urandom(NONCE_BYTES)
    ciphertext: bytes = aesgcm(key).encrypt(nonce, plaintext, aad)
    return nonce + ciphertext


def decrypt(key: bytes, blob: bytes, aad: bytes | None = None) -> bytes:
    """Inverse of `encrypt`; `DecryptionError` when authentication fails."""
    aesgcm = require_cryptography("decryption")
    from cryptography.exceptions import InvalidTag

    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext too short")
    try:
        plaintext: bytes = aesgcm(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("authentication failed (wrong key or corrupted data)") from None
    return plaintext
