"""Secret stores (SPEC R-77 .. R-80) and secret-reference resolution (R-13)."""

from adapters.secrets.base import (
    ManagedSecretStore,
    ReadOnlyStoreError,
    SecretStore,
    require_management,
)
from adapters.secrets.dotenv import DotenvSecretStore, parse_dotenv
from adapters.secrets.encrypted_file import EncryptedFileSecretStore
from adapters.secrets.env import EnvSecretStore
from adapters.secrets.json_secrets import JsonSecretStore
from adapters.secrets.keyring_store import KeyringSecretStore
from adapters.secrets.memory import MemorySecretStore
from adapters.secrets.registry import SECRET_STORES, create_store
from adapters.secrets.resolver import SecretResolver

__all__ = [
    "SECRET_STORES",
    "DotenvSecretStore",
    "EncryptedFileSecretStore",
    "EnvSecretStore",
    "JsonSecretStore",
    "KeyringSecretStore",
    "ManagedSecretStore",
    "MemorySecretStore",
    "ReadOnlyStoreError",
    "SecretResolver",
    "SecretStore",
    "create_store",
    "parse_dotenv",
    "require_management",
]
