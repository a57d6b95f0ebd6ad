"""R-84: a writer killed with SIGKILL mid-save never leaves a file that fails
to load, and the file holds either the previous or the next state.

The writer is a forked copy of the test process (a fresh interpreter per
kill would spend the time budget on imports); it saves alternating states
through `StateSync` + `LocalFileStorage` as fast as it can and reports each
completed save on a pipe."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from adapters.storage.codecs import StateCodec
from adapters.storage.local_file import LocalFileStorage
from adapters.storage.sync import STATE_KEY, StateSync

KILLS = 200


def make_state(seq: int) -> dict[str, object]:
    """The state written at step `seq` (its content depends only on seq)."""
    return {"schema": 1, "seq": seq, "payload": ("ab"[seq % 2]) * 60_000}


def _writer(path: Path, start: int, backup: bool, wfd: int) -> None:  # pragma: no cover
    try:
        sync = StateSync(LocalFileStorage(path, backup=backup), StateCodec("json"))
        seq = start
        os.write(wfd, b"R\n")
        while True:
            sync.submit(make_state(seq))
            sync.flush()
            os.write(wfd, f"D {seq}\n".encode())
            seq += 1
    finally:
        os._exit(0)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_sigkill_during_saves_leaves_old_or_new_state_r84(tmp_path: Path) -> None:
    path = tmp_path / "mesh-state.json"
    storage = LocalFileStorage(path)
    codec = StateCodec("json")
    storage.save(STATE_KEY, codec.encode(make_state(0)))
    rng = random.Random(1234)
    seq = 0
    interrupted = 0
    for i in range(KILLS):
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(rfd)
            _writer(path, seq + 1, i % 2 == 1, wfd)
        os.close(wfd)
        with os.fdopen(rfd, "rb", buffering=0) as r:
            assert r.read(2) == b"R\n"
            time.sleep(rng.uniform(0.0, 0.02))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            out = _read_all(r.fileno())
        done = [int(line.split()[1]) for line in out.decode().splitlines()
                if line.startswith("D ")]
        last_done = done[-1] if done else seq
        entry = storage.load(STATE_KEY)
        assert entry is not None, f"kill {i}: state file missing"
        loaded = codec.decode(entry.data)  # must parse: never a torn file
        assert loaded["seq"] in (last_done, last_done + 1), (i, loaded["seq"], last_done)
        assert loaded == make_state(loaded["seq"])
        interrupted += loaded["seq"] == last_done
        seq = loaded["seq"]
    assert seq > 0  # saves really happened between the kills
    # The previous file survives as .bak when backup is on, and it loads too.
    bak = path.with_name(path.name + ".bak")
    if bak.exists():
        codec.decode(bak.read_bytes())
