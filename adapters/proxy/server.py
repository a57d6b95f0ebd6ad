"""Running the proxy: hypercorn on asyncio or trio, signals, reload.

`run_proxy()` is what `modelmesh serve` calls: it binds the listening socket
itself (so `--port 0` works and the real port is known before serving), hands
it to hypercorn as `fd://N`, and serves `ProxyApp` until SIGTERM or SIGINT.
Then the app drains (R-118): the listener closes, new requests on open
connections get 503 `shutting_down`, in-flight ones get `shutdown_timeout`,
the rest are cancelled, and the lifespan closes the client (statistics,
state, event log) before the process exits 0. SIGHUP re-reads the
configuration from where it came from (R-118a) and applies it through the
core's `ConfigChanged` event (`AsyncMeshClient.reconfigure`); a bad new
configuration is logged with every problem and the old one keeps serving.

`ProxyServer` runs the same thing on a background thread (no signals) for
tests, benchmarks and embedding: `with ProxyServer(config=...) as srv:`.

Event loop: on the asyncio backend `loop="auto"` (the default) runs on uvloop
when it is installed (an optional dependency) and on the standard loop
otherwise; `loop="asyncio"` forces the standard loop, `loop="uvloop"` requires
uvloop. The trio backend ignores `loop`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, cast

import anyio

from adapters.build import Built, build, detect_providers
from adapters.client import AsyncMeshClient
from adapters.observability import default_console
from adapters.proxy.app import ProxyApp
from adapters.proxy.settings import ProxySettings, settings_from
from meshcore.errors import ConfigurationError

__all__ = ["LOOPS", "ConfigSource", "ProxyServer", "Reloader", "backend_options",
           "open_listener", "run_proxy", "serve_app"]

LOOPS: tuple[str, ...] = ("auto", "asyncio", "uvloop")
"""Accepted values of the `loop` option (see the module docstring)."""


def backend_options(backend: str, loop: str = "auto") -> dict[str, Any]:
    """The `anyio.run` backend options for `backend` and `loop`: uvloop on
    asyncio when asked for, or with "auto" when it is installed."""
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}, not {loop!r}")
    if backend != "asyncio" or loop == "asyncio":
        return {}
    installed = importlib.util.find_spec("uvloop") is not None
    if loop == "uvloop" and not installed:
        raise ValueError("loop 'uvloop' asked for but uvloop is not installed")
    return {"use_uvloop": True} if installed else {}

log = logging.getLogger("modelmesh.proxy")


@dataclass(frozen=True)
class ConfigSource:
    """Where the configuration comes from: a file path, or (None) zero-config
    from the environment (R-18) with the predefined pools (R-7)."""

    path: str | None = None
    # the console sink's trace level when the config has no
    # observability section (the proxy's --log-level)
    log_level: str = "info"

    @classmethod
    def from_args(cls, path: str | None, environ: Mapping[str, str] | None = None) -> ConfigSource:
        """`--config`, else `MODELMESH_CONFIG`, else zero-config."""
        env = os.environ if environ is None else environ
        return cls(path or env.get("MODELMESH_CONFIG") or None)

    def build(self) -> Built:
        """Read and validate the configuration; raises `ConfigurationError`.
        Without an observability section the proxy's default console sink
        (R-90) is put into the configuration itself, so the core knows the
        trace level (it does not build traces no sink keeps) and a recorded
        event log replays with the same sinks."""
        if self.path is not None:
            built = build((), config=self.path)
        else:
            providers = detect_providers(os.environ)
            if not providers:
                raise ConfigurationError(
                    "no --config, no MODELMESH_CONFIG and no provider detected in the environment",
                    {"errors": ["no provider detected in the environment"]})
            built = build((), config={"providers": providers})
        cfg = built.config
        if not cfg.sections.get("observability"):
            sections = {**cfg.sections, "observability": [default_console(self.log_level)]}
            built = replace(built, config=replace(cfg, sections=sections))
        return built


@dataclass
class Reloader:
    """R-118a: rebuild from `source`, re-apply flag overrides, install."""

    app: ProxyApp
    source: ConfigSource
    host: str | None = None
    port: int | None = None
    token: str | None = None

    async def __call__(self) -> bool:
        """Reload once; True when the new configuration was installed."""
        try:
            built = await anyio.to_thread.run_sync(self.source.build)
            settings = settings_from(built, host=self.host, port=self.port, token=self.token)
        except (ConfigurationError, ValueError, TypeError) as exc:
            errors = getattr(exc, "details", {}).get("errors") or [str(exc)]
            log.error("configuration reload failed; keeping the old configuration: %s",
                      "; ".join(str(e) for e in errors))
            return False
        self.app.client.reconfigure(built)
        self.app.apply_settings(settings)
        log.info("configuration reloaded")
        return True


def open_listener(host: str, port: int) -> socket.socket:
    """Bind and listen (port 0 picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_app(app: ProxyApp, sock: socket.socket, *, backend: str,
                    shutdown_trigger: Callable[[], Awaitable[None]],
                    log_level: str = "WARNING") -> None:
    """Serve `app` on `sock` (whose ownership passes to hypercorn)."""
    from adapters.proxy import coalesce, keepalive
    from adapters.proxy.hconfig import hypercorn_config

    coalesce.install()  # a response head leaves with its first body piece (one write)
    config = hypercorn_config(sock.detach(), log_level=log_level,
                              graceful_timeout=app.settings.shutdown_timeout + 5.0)
    if backend == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(cast(Any, app), config, shutdown_trigger=shutdown_trigger)
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        keepalive.install()  # a keep-alive idle timeout without a task per request
        await asyncio_serve(cast(Any, app), config, shutdown_trigger=shutdown_trigger)


def _signal_trigger(app: ProxyApp, reload: Reloader) -> Callable[[], Awaitable[None]]:
    async def trigger() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
            async for signum in sigs:
                if signum == signal.SIGHUP:
                    await reload()
                    continue
                log.info("signal %s: draining", signal.Signals(signum).name)
                app.begin_shutdown()
                return

    return trigger


def run_proxy(source: ConfigSource, *, host: str | None = None, port: int | None = None,
              token: str | None = None, backend: str = "asyncio", record: str | None = None,
              log_level: str = "INFO", announce: Callable[[str], None] | None = None,
              loop: str = "auto") -> int:
    """`modelmesh serve`: build, bind, serve until SIGTERM/SIGINT; returns the
    exit code. Configuration problems raise `ConfigurationError`; a bind
    failure raises `OSError`; a bad `loop` raises `ValueError`."""
    options = backend_options(backend, loop)
    source = replace(source, log_level=log_level.lower())
    built = source.build()
    settings = settings_from(built, host=host, port=port, token=token)
    sock = open_listener(settings.host, settings.port)
    actual = int(sock.getsockname()[1])
    client = AsyncMeshClient(built, record=record)
    url = f"http://{settings.host}:{actual}"

    def ready() -> None:
        if announce is not None:
            announce(url)

    app = ProxyApp(client, settings, on_ready=ready)
    app.port = actual
    reloader = Reloader(app, source, host, port, token)

    async def main() -> None:
        await serve_app(app, sock, backend=backend,
                        shutdown_trigger=_signal_trigger(app, reloader), log_level=log_level)

    anyio.run(main, backend=backend, backend_options=options)
    return 0


class ProxyServer:
    """The proxy on a background thread (no signal handling) on 127.0.0.1.

    Give a config (path, dict, `MeshConfig`) or a ready `AsyncMeshClient`;
    `settings` default to the config's `proxy` section with `port=0`.
    """

    def __init__(self, config: object = None, *, client: AsyncMeshClient | None = None,
                 settings: ProxySettings | None = None, backend: str = "asyncio",
                 seed: int | None = None, token: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, loop: str = "auto") -> None:
        if client is None:
            if config is None:
                raise ValueError("give config= or client=")
            client = AsyncMeshClient(build((), config=config), seed=seed)
        self.client = client
        self.settings = settings if settings is not None else settings_from(
            client._built, host=host, port=port, token=token)
        self.backend = backend
        self.backend_options = backend_options(backend, loop)
        self.app = ProxyApp(client, self.settings, on_ready=self._on_ready)
        self.port = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """`http://host:port` of the running proxy."""
        return f"http://{self.settings.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI SDK base URL (`.../v1`)."""
        return self.url + "/v1"

    def _on_ready(self) -> None:
        self._ready.set()

    def start(self, timeout: float = 10.0) -> ProxyServer:
        """Bind, start serving, and wait (bounded) until ready."""
        sock = open_listener(self.settings.host, self.settings.port)
        self.port = int(sock.getsockname()[1])
        self.app.port = self.port

        async def trigger() -> None:
            while not self._stop.is_set():
                await anyio.sleep(0.02)
            self.app.begin_shutdown()

        def run() -> None:
            try:
                anyio.run(lambda: serve_app(self.app, sock, backend=self.backend,
                                            shutdown_trigger=trigger), backend=self.backend,
                          backend_options=self.backend_options)
            except BaseException as exc:  # pragma: no cover - reported by start()/stop()
                self._error = exc
                self._ready.set()

        self._thread = threading.Thread(target=run, name=f"modelmesh-proxy-{self.port}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"proxy did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Drain and stop; waits (bounded) for the serving thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
