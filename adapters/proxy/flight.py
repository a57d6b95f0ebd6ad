"""Requests in flight in the proxy app, and the late start of their disconnect watchers.

`Flight` is one request being served: its cancel scope, why it was cancelled
(disconnect, shutdown), its responder and request headers. `LateWatch` starts
a routed call's disconnect watcher `delay` seconds after the call began, and
only if the request is still running then (on asyncio; see `adapters.proxy.app`
for why). Per request it only notes the due time; one loop timer serves every
flight: it is armed when none is pending, and when it fires it starts the
watchers that are due and re-arms itself for the earliest one still to come.
A request that ends before its due time costs no timer of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import anyio

from adapters.proxy.asgi import Receive, Responder

__all__ = ["Flight", "LateWatch"]


class Flight:
    """One request in flight: its cancel scope and why it was cancelled."""

    __slots__ = ("done", "headers", "out", "pool", "reason", "receive", "scope", "streaming",
                 "watch_at")

    def __init__(self, out: Responder, headers: dict[bytes, bytes]) -> None:
        self.out = out
        self.headers = headers
        self.scope: anyio.CancelScope | None = None
        self.reason: str | None = None
        self.streaming = False
        self.pool: str | None = None
        self.done = False
        self.receive: Receive | None = None  # set with `watch_at`
        self.watch_at: float | None = None  # loop time its watcher is due (LateWatch)

    def cancel(self, reason: str) -> None:
        """Cancel the request unless its answer is complete; the first reason sticks."""
        if self.done or self.out.finished:
            return  # the answer is complete: nothing left to cancel
        if self.reason is None:
            self.reason = reason
        if self.scope is not None:
            self.scope.cancel()


class LateWatch:
    """Starts `start(flight)` for each flight of `flights` that `add` was given,
    once its due time has come, if the flight is not done by then."""

    def __init__(self, flights: Iterable[Flight], start: Callable[[Flight], Any]) -> None:
        self._flights = flights
        self._start = start
        self._timer: asyncio.TimerHandle | None = None
        self._at = 0.0  # when the timer fires

    def add(self, loop: asyncio.AbstractEventLoop, flight: Flight, receive: Receive,
            delay: float) -> None:
        """Watch `flight` (whose server messages come from `receive`) `delay` s from now."""
        flight.receive = receive
        at = flight.watch_at = loop.time() + delay
        if self._timer is not None:
            if at >= self._at:
                return  # the pending timer comes first (the usual case)
            self._timer.cancel()  # `delay` shrank
        self._at = at
        self._timer = loop.call_at(at, self._fire, loop)

    def close(self) -> None:
        """Stop the timer (the app stops); watchers not started yet never start."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        due: list[Flight] = []
        nxt: float | None = None
        for flight in self._flights:
            at = flight.watch_at
            if at is None or flight.done:
                continue
            if at <= now:
                flight.watch_at = None
                due.append(flight)
            elif nxt is None or at < nxt:
                nxt = at
        if nxt is not None:
            self._at = nxt
            self._timer = loop.call_at(nxt, self._fire, loop)
        for flight in due:
            self._start(flight)
