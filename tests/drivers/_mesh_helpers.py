"""Shared helpers of the driver and client tests: configs over FakeProviderServers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adapters.fake_provider import FakeProviderServer

CONNECTORS = {
    "openai": "openai.compatible.v1",
    "anthropic": "anthropic.claude.v1",
    "gemini": "google.gemini.v1",
}
MSG = [{"role": "user", "content": "hello there"}]
CALL_TIMEOUT = 10.0  # every client call passes a request deadline


def mesh_config(
    servers: list[tuple[str, FakeProviderServer]],
    *,
    timeout: str = "5s",
    pool: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One provider + model per server (provider `p<i>`, model `p<i>.m<i>`), all in
    pool `chat` in the given order."""
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for i, (fmt, srv) in enumerate(servers):
        pid = f"p{i}"
        providers[pid] = {"connector": CONNECTORS[fmt], "base_url": srv.base_url,
                          "api_key": "test-key", "timeout": timeout}
        models[f"{pid}.m{i}"] = {"provider": pid, "name": f"m{i}",
                                 "capabilities": ["chat-completion", "text-embeddings"]
                                 if fmt == "openai" else ["chat-completion"]}
    return {
        "providers": providers,
        "models": models,
        "pools": {"chat": {"models": list(models), "retry": {"max_attempts": 1},
                           **(pool or {})}},
    }


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Bounded poll for `cond`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def open_connections(pool: Any) -> list[Any]:
    """The pool's connections that are not closed."""
    return [c for c in pool.connections if not c.is_closed()]


def busy_connections(pool: Any) -> list[Any]:
    """Open connections that are not idle (a request is still using them)."""
    return [c for c in open_connections(pool) if not c.is_idle()]


# a provider that answers its first chunk at once, then stalls for 20 s
STALL_AFTER_FIRST = [{"content": "one two three", "stall_after_chunks": 1, "stall_for": 20.0}]


def reload_pair(slow: FakeProviderServer,
                other: FakeProviderServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """A config with `p0.m0` on `slow` and `p1.m1` on `other` (30 s provider
    timeout), and the same config after a reload that removed `p0.m0`."""
    cfg = mesh_config([("openai", slow), ("openai", other)], timeout="30s")
    without = {**cfg, "models": {k: v for k, v in cfg["models"].items() if k != "p0.m0"},
               "pools": {"chat": {**cfg["pools"]["chat"], "models": ["p1.m1"]}}}
    return cfg, without
