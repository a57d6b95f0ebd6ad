"""hypercorn's configuration for the proxy.

`hypercorn_config()` builds the `hypercorn.config.Config` the proxy serves
with: the listening socket, the graceful timeout after the drain, no access
log, keep-alive settings for pooling clients. It is a `CachedHeadersConfig`:
hypercorn asks its config for the headers it adds to every response (`date`,
`server`, ...) once per response, and the stock method formats the date each
time (~2 us per request); this one computes them once per second and protocol
and hands out a copy. The date has a resolution of one second, so the headers
are the same as the stock method's.
"""

from __future__ import annotations

import functools
import time
from typing import Any

__all__ = ["hypercorn_config"]


@functools.cache
def _cached_config_class() -> Any:
    from hypercorn.config import Config

    class CachedHeadersConfig(Config):
        """hypercorn's `Config`, its response headers computed once per second."""

        _headers_cache: dict[str, tuple[int, list[tuple[bytes, bytes]]]]

        def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
            second = int(time.time())
            cache = self.__dict__.setdefault("_headers_cache", {})
            hit = cache.get(protocol)
            if hit is None or hit[0] != second:
                hit = cache[protocol] = (second, list(super().response_headers(protocol)))
            return list(hit[1])

    return CachedHeadersConfig


def hypercorn_config(fd: int, *, graceful_timeout: float, log_level: str) -> Any:
    """The proxy's hypercorn `Config`, serving the listening socket `fd`."""
    config = _cached_config_class()()
    config.bind = [f"fd://{fd}"]
    config.graceful_timeout = graceful_timeout
    config.accesslog = None  # no per-request access log line
    config.loglevel = log_level
    config.keep_alive_timeout = 30.0
    # hypercorn closes a keep-alive connection after 1000 requests by default,
    # which makes busy clients reconnect; a proxy's clients pool connections
    config.keep_alive_max_requests = 100_000
    return config
