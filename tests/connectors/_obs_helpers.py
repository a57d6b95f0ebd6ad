"""Shared helpers of the observability and middleware tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.fake_provider import FakeProviderServer

MSG = [{"role": "user", "content": "hello there"}]
KEY = "sk-test-KNOWN-secret-0123456789"
SECOND_KEY = "sk-other-KNOWN-secret-9876543210"


def config_for(*servers: FakeProviderServer, key: str | list[str] = KEY,
               observability: Any = None, pool: dict[str, Any] | None = None) -> dict[str, Any]:
    """One OpenAI-compatible provider `p<i>` and model `p<i>.m<i>` per server, all in
    pool `chat`, with `key` as every provider's API key (or `key[i]` for a list)."""
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for i, srv in enumerate(servers):
        k = key[i] if isinstance(key, list) else key
        providers[f"p{i}"] = {"connector": "openai.compatible.v1", "base_url": srv.base_url,
                              "api_key": k, "timeout": "5s"}
        models[f"p{i}.m{i}"] = {"provider": f"p{i}", "name": f"m{i}",
                                "capabilities": ["chat-completion"]}
    out: dict[str, Any] = {
        "providers": providers, "models": models,
        "pools": {"chat": {"models": list(models), "retry": {"max_attempts": 1}, **(pool or {})}},
    }
    if observability is not None:
        out["observability"] = observability
    return out


def read_jsonl(path: Any) -> list[dict[str, Any]]:
    """Every JSON line of a file."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class Receiver:
    """A loopback HTTP server recording the JSON bodies it receives; answers with
    `statuses` in order (the last repeats)."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.bodies: list[Any] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.methods: list[str] = []
        self.statuses = statuses or [200]
        self.delay = delay
        self.hits = 0
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n)
                outer.raw.append(body)
                outer.methods.append(self.command)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                status = outer.statuses[min(outer.hits, len(outer.statuses) - 1)]
                outer.hits += 1
                if outer.delay:
                    outer.event.wait(outer.delay)
                if 200 <= status < 300:
                    outer.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = _handle
            do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def records(self) -> list[dict[str, Any]]:
        return [r for batch in self.bodies for r in batch]


@contextmanager
def receiver(statuses: list[int] | None = None, delay: float = 0.0) -> Iterator[Receiver]:
    rcv = Receiver(statuses, delay)
    rcv.thread.start()
    try:
        yield rcv
    finally:
        rcv.event.set()
        rcv.server.shutdown()
        rcv.server.server_close()
