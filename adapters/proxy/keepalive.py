"""A keep-alive idle timeout per connection without a task per request (asyncio).

Theory of operation: hypercorn's asyncio `TCPServer` gives each connection
an `AsyncioSingleTask` running `TCPServer._idle_timeout`: wait for the
server's `terminated` event at most `keep_alive_timeout` seconds, then close
the connection. Every request stops that task (cancel it and await the
cancellation, which also cancels `wait_for`'s inner task) and every response
restarts it (two new tasks and a timer). Measured on this project's loopback
benchmark that is 30-60 us of CPU per keep-alive request, about a tenth of
what hypercorn spends on a request with a trivial app.

`LeanIdleTask` does the same job with one lazy loop timer per connection:
`restart` (the connection went idle) records the deadline `keep_alive_timeout`
from now and arms a timer only if none is pending; `stop` (a request arrived,
or the connection closes) marks the connection busy, and cancels the timer of
a closed connection. A timer that fires on a
busy connection does nothing; on an idle one before its (moved) deadline it
re-arms itself for it; after the deadline it closes the connection the way
the stock task does (`TCPServer._initiate_server_close`, in a task of its
own). When the server's `terminated` event is set (graceful shutdown), one
watcher task per server, not per connection, closes the connections idle
then; a connection that goes idle after that is closed at once, as stock
does. One difference, on the safe side: a connection the client closed no
longer keeps its server task (and socket) around until the idle timeout.

`install()` points `hypercorn.asyncio.tcp_server`'s `AsyncioSingleTask` name
at `LeanIdleTask` (`TCPServer.__init__` looks it up there; QUIC and trio are
untouched). It installs nothing unless `TCPServer._idle_timeout` is exactly
the code described above and `TCPServer` uses the single task as described,
and `restart` hands any other action to hypercorn's own class, so serving
then works exactly as stock.
"""

from __future__ import annotations

import asyncio
import inspect
import textwrap
import weakref
from typing import Any

__all__ = ["LeanIdleTask", "install", "installed"]

_IDLE_TIMEOUT_SOURCE = """\
async def _idle_timeout(self) -> None:
    try:
        await asyncio.wait_for(self.context.terminated.wait(), self.config.keep_alive_timeout)
    except asyncio.TimeoutError:
        pass
    await asyncio.shield(self._initiate_server_close())
"""
_USES = ("self.loop = loop", "self.context = context", "self.config = config",
         "self.writer = writer",
         "self.idle_task = AsyncioSingleTask()",
         "await self.idle_task.restart(task_group, self._idle_timeout)",
         "await self.idle_task.restart(self._task_group, self._idle_timeout)",
         "await self.idle_task.stop()")

_STATE: dict[str, Any] = {"stock": None, "idle_func": None}

# per server (hypercorn's WorkerContext): its connections, idle or not
_CONNECTIONS: weakref.WeakKeyDictionary[Any, weakref.WeakSet[LeanIdleTask]] = (
    weakref.WeakKeyDictionary())
_WATCHERS: set[asyncio.Task[None]] = set()  # strong references to the running watchers


async def _close_idle_on_terminated(context: Any, connections: weakref.WeakSet[LeanIdleTask],
                                    ) -> None:
    await context.terminated.wait()
    for conn in list(connections):
        if conn.idle:
            conn.expire()


def _register(conn: LeanIdleTask, server: Any) -> None:
    """Add `conn` to its server's connections (hypercorn's worker context);
    the first one of a server starts that server's `terminated` watcher."""
    context = server.context
    connections = _CONNECTIONS.get(context)
    if connections is None:
        connections = _CONNECTIONS[context] = weakref.WeakSet()
        watcher = server.loop.create_task(_close_idle_on_terminated(context, connections))
        _WATCHERS.add(watcher)
        watcher.add_done_callback(_WATCHERS.discard)
    connections.add(conn)


class LeanIdleTask:
    """hypercorn's `AsyncioSingleTask` for `TCPServer._idle_timeout`, with a
    lazy timer instead of a task (see the module docstring)."""

    __slots__ = ("__weakref__", "_closing", "_deadline", "_fallback", "_server", "_timer",
                 "idle")

    def __init__(self) -> None:
        self.idle = False
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._server: Any = None
        self._closing: asyncio.Task[None] | None = None
        self._fallback: Any = None

    async def restart(self, task_group: Any, action: Any) -> None:
        """The connection went idle: close it `keep_alive_timeout` from now,
        or when the server terminates (at once when it already has)."""
        if self._fallback is not None or getattr(action, "__func__", None) is not _STATE[
                "idle_func"]:
            if self._fallback is None:
                self._fallback = _STATE["stock"]()
            await self._fallback.restart(task_group, action)
            return
        server = self._server
        if server is None:
            server = self._server = action.__self__
            _register(self, server)
        if server.context.terminated.is_set():
            self.idle = True
            self.expire()
            return
        timeout = server.config.keep_alive_timeout
        if timeout is None:
            self.idle = True
            return
        loop = server.loop
        self._deadline = loop.time() + timeout
        self.idle = True
        if self._timer is None:  # else the armed timer re-arms itself for the new deadline
            self._timer = loop.call_at(self._deadline, self._check)

    async def stop(self) -> None:
        """The connection is busy again, or closing: not idle."""
        if self._fallback is not None:
            await self._fallback.stop()
            return
        self.idle = False
        if self._timer is not None and self._server.writer.is_closing():
            self._timer.cancel()  # closed: release the connection now, not at the timeout
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if not self.idle:
            return  # busy or closed; the next restart arms a timer again
        server = self._server
        if server.loop.time() >= self._deadline:
            self.expire()
        else:
            self._timer = server.loop.call_at(self._deadline, self._check)

    def expire(self) -> None:
        """Close the idle connection (its timeout passed or the server terminates)."""
        self.idle = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        server = self._server
        if server is None or (self._closing is not None and not self._closing.done()):
            return
        self._closing = server.loop.create_task(server._initiate_server_close())


def _matches(tcp_server: Any) -> bool:
    cls = getattr(tcp_server, "TCPServer", None)
    func = getattr(cls, "_idle_timeout", None)
    if cls is None or not callable(func) or not callable(
            getattr(cls, "_initiate_server_close", None)):
        return False
    try:
        source = textwrap.dedent(inspect.getsource(func))
        whole = inspect.getsource(cls)
    except (OSError, TypeError):
        return False
    return source == _IDLE_TIMEOUT_SOURCE and all(use in whole for use in _USES)


def install() -> bool:
    """Make hypercorn's asyncio connections use `LeanIdleTask`; True when it
    is in place (idempotent), False when hypercorn's internals did not match."""
    try:
        import hypercorn.asyncio.tcp_server as tcp_server
        from hypercorn.asyncio.worker_context import AsyncioSingleTask
    except ImportError:
        return False
    current = getattr(tcp_server, "AsyncioSingleTask", None)
    if current is LeanIdleTask:
        return True
    if current is not AsyncioSingleTask or not _matches(tcp_server):
        return False
    _STATE["stock"] = AsyncioSingleTask
    _STATE["idle_func"] = tcp_server.TCPServer._idle_timeout
    module: Any = tcp_server
    module.AsyncioSingleTask = LeanIdleTask
    return True


def installed() -> bool:
    """Whether `install()` is in effect."""
    try:
        import hypercorn.asyncio.tcp_server as tcp_server
    except ImportError:
        return False
    return getattr(tcp_server, "AsyncioSingleTask", None) is LeanIdleTask
