"""R-86: deadlines persist as wall time. A model put in standby for a 60 s
cooldown, client closed, reopened 20 s later is still in standby, and comes
back when the original deadline passes (not after a fresh cooldown)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "drivers"))
from _mesh_helpers import MSG, mesh_config

import adapters.client
import adapters.engine
from adapters import create
from adapters.fake_provider import FakeProviderServer
from meshcore.errors import ModelMeshError


class FakeTime:
    """Monotonic and wall clocks that move only when told (the shell's clock hook)."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_790_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds

    def restart(self, down_for: float) -> None:
        """A new process: the monotonic clock restarts, wall time moved on."""
        self.mono = 5.0
        self.wall += down_for


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    ns = SimpleNamespace(monotonic=lambda: fake.mono, time=lambda: fake.wall,
                         sleep=time.sleep, perf_counter=time.perf_counter)
    monkeypatch.setattr(adapters.engine, "time", ns)
    monkeypatch.setattr(adapters.client, "time", ns)
    return fake


def _config(srv: FakeProviderServer, path: Path, policy: str) -> dict[str, Any]:
    cfg = mesh_config([("openai", srv)], pool={
        "deactivation": {"retry_limit": 1},
        "recovery": {"cooldown": "60s", "probe_on_start": False},
    })
    cfg["storage"] = {"connector": "modelmesh.local-file.v1", "path": str(path),
                      "sync_policy": policy}
    return cfg


def _status(client: Any) -> str:
    return str(client.pool_status("chat").models[0].status)


@pytest.mark.parametrize("policy", ["sync-on-boundary", "immediate"])
def test_cooldown_survives_restart_r86(clock: FakeTime, tmp_path: Path, policy: str) -> None:
    path = tmp_path / "mesh-state.json"
    with FakeProviderServer([{"status": 503}, {"status": 200}]) as srv:
        cfg = _config(srv, path, policy)
        with create(config=cfg, seed=1) as client:
            with pytest.raises(ModelMeshError):
                client.chat.completions.create(model="chat", messages=MSG, timeout=10)
            assert _status(client) == "standby"
            if policy == "immediate":
                assert path.exists()  # saved after the state change, before close
        clock.restart(down_for=20.0)
        with create(config=cfg, seed=2) as client:
            assert _status(client) == "standby"  # 40 s of the cooldown are left
            clock.advance(39.0)
            with pytest.raises(ModelMeshError):
                client.chat.completions.create(model="chat", messages=MSG, timeout=10)
            assert len(srv.requests) == 1  # still in standby: no call was made
            clock.advance(2.0)  # the original deadline (60 s after failure) passes
            resp = client.chat.completions.create(model="chat", messages=MSG, timeout=10)
            assert resp.model == "p0.m0"
            assert _status(client) == "active"


def test_passed_deadline_is_half_open_at_once_r86(clock: FakeTime, tmp_path: Path) -> None:
    path = tmp_path / "mesh-state.json"
    with FakeProviderServer([{"status": 503}, {"status": 200}]) as srv:
        cfg = _config(srv, path, "sync-on-boundary")
        with create(config=cfg, seed=1) as client, pytest.raises(ModelMeshError):
            client.chat.completions.create(model="chat", messages=MSG, timeout=10)
        clock.restart(down_for=120.0)
        with create(config=cfg, seed=2) as client:
            assert _status(client) in ("half_open", "active")
            client.chat.completions.create(model="chat", messages=MSG, timeout=10)
