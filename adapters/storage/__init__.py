"""Storage connectors (SPEC R-81 .. R-87): persistence of the router state."""

from adapters.storage.base import Entry, Lock, StatInfo, Storage
from adapters.storage.codecs import CodecError, StateCodec
from adapters.storage.local_file import LocalFileStorage
from adapters.storage.memory import MemoryStorage
from adapters.storage.registry import STORAGES, create_storage, open_state
from adapters.storage.sqlite import SqliteStorage
from adapters.storage.sync import CONFIG_KEY, STATE_KEY, STATS_KEY, StateSync

__all__ = [
    "CONFIG_KEY",
    "STATE_KEY",
    "STATS_KEY",
    "STORAGES",
    "CodecError",
    "Entry",
    "LocalFileStorage",
    "Lock",
    "MemoryStorage",
    "SqliteStorage",
    "StatInfo",
    "StateCodec",
    "StateSync",
    "Storage",
    "create_storage",
    "open_state",
]
