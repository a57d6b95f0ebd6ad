"""`modelmesh.webhook.v1`: records POSTed (or PUT) as a JSON array (SPEC R-96).

The sink buffers records and sends them in batches of `batch_size`; a failed
delivery (transport error or a non-2xx status) is retried up to `retry_count`
times with exponential backoff from 1 s (1, 2, 4, ... seconds), after which
the batch is dropped and the error raised to the dispatcher, which turns it
into a rate-limited `error` trace (R-98). The sink runs on the sink-delivery
worker, never on a request's path, so its waits and timeouts delay no user
request. `close()` sends what is still buffered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpcore

from adapters.observability.base import Sink

__all__ = ["WebhookError", "WebhookSink"]


class WebhookError(RuntimeError):
    """A batch could not be delivered after every retry."""


class WebhookSink(Sink):
    """Batched JSON delivery over HTTP with bounded retries."""

    def __init__(self, url: str, method: str = "POST", headers: Mapping[str, str] | None = None,
                 timeout: float = 10.0, retry_count: int = 3, batch_size: int = 1,
                 content_type: str = "application/json", *, backoff_base: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not url:
            raise ValueError("modelmesh.webhook.v1 needs a `url`")
        if method.upper() not in ("POST", "PUT"):
            raise ValueError("webhook method must be POST or PUT")
        self.url = url
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.timeout = float(timeout)
        self.retry_count = max(0, int(retry_count))
        self.batch_size = max(1, int(batch_size))
        self.content_type = content_type
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._pool = httpcore.ConnectionPool(max_connections=2)
        self.delivered = 0

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._buffer.append(record)
            if len(self._buffer) < self.batch_size:
                return
            batch, self._buffer = self._buffer, []
        self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        body = json.dumps(batch, ensure_ascii=False, default=str).encode("utf-8")
        headers = [("content-type", self.content_type), ("content-length", str(len(body))),
                   *((k, str(v)) for k, v in self.headers.items())]
        ext = {"timeout": {"connect": self.timeout, "read": self.timeout,
                           "write": self.timeout, "pool": self.timeout}}
        last = ""
        for attempt in range(self.retry_count + 1):
            if attempt:
                self._sleep(self.backoff_base * 2 ** (attempt - 1))
            try:
                resp = self._pool.request(self.method, self.url, headers=headers, content=body,
                                          extensions=ext)
            except (httpcore.TimeoutException, httpcore.NetworkError,
                    httpcore.ProtocolError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= resp.status < 300:
                self.delivered += len(batch)
                return
            last = f"HTTP {resp.status}"
        raise WebhookError(f"webhook delivery to {self.url} failed after "
                           f"{self.retry_count + 1} attempt(s): {last}")

    def close(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        try:
            if batch:
                self._send(batch)
        finally:
            self._pool.close()
