"""Helpers of the proxy tests: configs over FakeProviderServers and a direct ASGI caller
(so a test can choose the client address, SPEC R-113)."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adapters.build import build
from adapters.client import AsyncMeshClient
from adapters.fake_provider import FakeProviderServer
from adapters.proxy import ProxyApp
from adapters.proxy.settings import ProxySettings, settings_from

MSG = [{"role": "user", "content": "hello there"}]
TIMEOUT = 20.0


def provider_config(servers: list[FakeProviderServer], *, timeout: str = "5s",
                    pool: dict[str, Any] | None = None,
                    proxy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Provider `p<i>` per server with chat model `p<i>.m<i>` in pool `chat` (in order),
    plus image / speech / transcription models of provider `media` (on the first server) in their own pools."""
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for i, srv in enumerate(servers):
        pid = f"p{i}"
        providers[pid] = {"connector": "openai.compatible.v1", "base_url": srv.base_url,
                          "api_key": "test-key", "timeout": timeout}
        models[f"{pid}.m{i}"] = {"provider": pid, "name": f"m{i}",
                                 "capabilities": ["chat-completion", "text-embeddings"]}
    chat = list(models)
    providers["media"] = {"connector": "openai.llm.v1", "base_url": servers[0].base_url,
                          "api_key": "test-key", "timeout": timeout}
    models["media.img"] = {"provider": "media", "name": "img", "capabilities": ["text-to-image"]}
    models["media.tts"] = {"provider": "media", "name": "tts",
                           "capabilities": ["text-to-speech"]}
    models["media.stt"] = {"provider": "media", "name": "stt",
                           "capabilities": ["speech-to-text"]}
    cfg: dict[str, Any] = {
        "providers": providers,
        "models": models,
        "pools": {
            "chat": {"models": chat, "retry": {"max_attempts": 1}, **(pool or {})},
            "embed": {"models": chat, "retry": {"max_attempts": 1}},
            "image": {"models": ["media.img"]},
            "tts": {"models": ["media.tts"]},
            "stt": {"models": ["media.stt"]},
        },
    }
    if proxy is not None:
        cfg["proxy"] = proxy
    return cfg


def make_app(cfg: dict[str, Any], **overrides: Any) -> ProxyApp:
    """A `ProxyApp` over a fresh async client; `overrides` replace settings fields."""
    from dataclasses import replace

    built = build((), config=cfg)
    settings: ProxySettings = replace(settings_from(built, port=0), **overrides)
    return ProxyApp(AsyncMeshClient(built, seed=3), settings)


@dataclass
class Resp:
    """One ASGI response as the test saw it."""

    status: int
    headers: dict[str, str]
    body: bytes
    messages: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi(app: ProxyApp, method: str, path: str, *, body: bytes | Any = b"",
               headers: Iterable[tuple[str, str]] = (), client: tuple[str, int] | None = (
                   "127.0.0.1", 50000),
               on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
               disconnect: anyio.Event | None = None) -> Resp:
    """Call the app once, as an ASGI server would. A non-bytes `body` is sent as JSON
    (with `Content-Type: application/json` unless given)."""
    hdrs = [(k.lower().encode(), v.encode()) for k, v in headers]
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
        if not any(k == b"content-type" for k, _ in hdrs):
            hdrs.append((b"content-type", b"application/json"))
    if body:
        hdrs.append((b"content-length", str(len(body)).encode()))
    path_only, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "path": path_only, "raw_path": path_only.encode(),
             "query_string": query.encode(), "headers": hdrs, "client": client,
             "server": ("127.0.0.1", 8080), "scheme": "http"}
    sent = {"done": False}
    gone = disconnect if disconnect is not None else anyio.Event()

    async def receive() -> dict[str, Any]:
        if not sent["done"]:
            sent["done"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    messages: list[dict[str, Any]] = []

    async def send(msg: dict[str, Any]) -> None:
        messages.append(msg)
        if on_message is not None:
            await on_message(msg)

    with anyio.fail_after(TIMEOUT):
        await app(scope, receive, send)
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    status = start["status"] if start else 0
    headers_out = {k.decode().lower(): v.decode() for k, v in (start or {}).get("headers", [])}
    data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Resp(status, headers_out, data, messages)


def run(app: ProxyApp, fn: Callable[[ProxyApp], Awaitable[None]], backend: str = "asyncio") -> None:
    """Run `fn(app)` inside the app's running context, bounded."""
    async def main() -> None:
        with anyio.fail_after(60):
            async with app.running():
                await fn(app)

    anyio.run(main, backend=backend)


def sse_events(data: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event, data) pairs."""
    out: list[tuple[str | None, str]] = []
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        event = None
        payload = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                payload.append(line[len("data: "):])
        out.append((event, "\n".join(payload)))
    return out
