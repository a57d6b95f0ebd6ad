"""Event-log recording (`record=`, SPEC R-99, R-110).

`Recorder` writes the JSON Lines event log produced by
`meshcore.log.EventLogWriter` to a file: the header (schema, seed, redacted
config) when it opens, then one line per `Router.handle()` call. Lines are
flushed after every step so that a crash leaves a replayable prefix.
`draw_seed()` draws the routing seed with the `secrets` module when the
user gave none; the seed is written in the header either way.
"""

from __future__ import annotations

import os
import secrets
import threading
from typing import IO, Any

from meshcore.config.schema import MeshConfig
from meshcore.events import Event
from meshcore.log import EventLogWriter
from meshcore.types import Instant

__all__ = ["Recorder", "draw_seed"]


def draw_seed() -> int:
    """A fresh random routing seed (63 bits) for a client built without one."""
    return secrets.randbits(63)


class Recorder:
    """Writes the event log of one client to `path` (created or truncated)."""

    def __init__(self, path: str | os.PathLike[str], config: MeshConfig, seed: int) -> None:
        self.path = os.fspath(path)
        self._writer = EventLogWriter(config, seed)
        self._lock = threading.Lock()
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self._flush()

    def record(self, now: Instant, event: Event, actions: list[Any]) -> None:
        """Append one `(now, event, actions)` step."""
        with self._lock:
            if self._file is None:
                return
            self._writer.record(now, event, actions)
            self._flush()

    def _flush(self) -> None:
        assert self._file is not None
        for line in self._writer.pop_lines():
            self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        with self._lock:
            if self._file is not None:
                self._flush()
                self._file.close()
                self._file = None
