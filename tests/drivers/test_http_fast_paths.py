"""The request/response header fast paths of `adapters.http` change nothing
(issue 4): `core_request` (cached URL and Host, request object built without
httpcore's argument checks) against `request_general` (httpcore's checked
constructor), and `normalise_headers` (decoded names cached) against
`normalise_headers_general`. Random valid and invalid inputs go through both
paths; the results must be equal, or the same exception type and message.
"""

from __future__ import annotations

from typing import Any

import httpcore
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import http
from adapters.http import (
    core_request,
    normalise_headers,
    normalise_headers_general,
    request_general,
)

_NAMES = st.sampled_from([
    "authorization", "Content-Type", "content-length", "Content-Length", "host", "Host",
    "transfer-encoding", "accept", "x-api-key", "User-Agent", "é-name",
])
_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", " 3 ", "Bearer k", "ü", "\u20ac"]))
_URLS = st.one_of(
    st.sampled_from([
        "http://null.invalid/v1/chat/completions", "https://api.example.com:8443/x?y=1",
        "http://user:pw@h.example/p", "http://bücher.example/p", "http://[::1]:8080/v1",
        "http://[::1/v1", "https://h.example:99999/p", "ftp://h/p", "h.example/p", "",
    ]),
    st.builds(lambda h, p: f"http://{h}/{p}", st.text(max_size=8), st.text(max_size=8)),
)
_HEADERS = st.one_of(
    st.lists(st.tuples(_NAMES, _TEXT), max_size=5),
    st.lists(st.one_of(st.tuples(_NAMES, _TEXT), st.lists(_NAMES, min_size=2, max_size=2),
                       st.tuples(_NAMES, st.just(b"bytes-value"))), max_size=3),
)
_METHODS = st.sampled_from(["POST", "GET", "PUT", "pöst"])
_BODIES = st.one_of(st.binary(max_size=20), st.just(bytearray(b"ab")))


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        req = fn(*args)
    except Exception as exc:  # the same exception, type and message
        return ("raised", type(exc), str(exc))
    assert isinstance(req, httpcore.Request)
    url = req.url
    return (req.method, url.scheme, url.host, url.port, url.target, req.headers,
            list(req.stream), type(req.stream), req.extensions)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(_METHODS, _URLS, _HEADERS, _BODIES,
       st.floats(min_value=-1.0, max_value=100.0), st.booleans())
def test_core_request_equals_general(method: str, url: str, headers: list[tuple[str, str]],
                                     body: bytes, timeout: float, cold: bool) -> None:
    if cold:
        http._URLS.clear()
        http._ENCODED.clear()
    for _ in range(2):  # cold, then cached
        assert _outcome(core_request, method, url, headers, body, timeout) == \
            _outcome(request_general, method, url, headers, body, timeout)


_RAW_NAMES = st.one_of(
    st.sampled_from([b"Retry-After", b"retry-after", "RETRY-AFTER", b"Content-Type",
                     b"anthropic-ratelimit-tokens-reset", "Anthropic-RateLimit-Requests-Reset",
                     b"\xc9tag", "x-ratelimit-remaining-requests"]),
    st.binary(max_size=6), st.text(max_size=6),
)
_RAW_VALUES = st.one_of(
    st.sampled_from([b"12", b" 1.5 ", b"Wed, 21 Oct 2015 07:28:00 GMT", "2026-11-24T03:00:05Z",
                     b"2026-11-24T03:00:05+00:00", b"nan", b"inf", b"soon", "", b"\xff  "]),
    st.binary(max_size=8), st.text(max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_RAW_NAMES, _RAW_VALUES), max_size=6),
       st.floats(min_value=0, max_value=2e9), st.booleans())
def test_normalise_headers_equals_general(raw: list[tuple[bytes | str, bytes | str]],
                                          now: float, cold: bool) -> None:
    if cold:
        http._NAMES.clear()
    for _ in range(2):  # cold, then cached names
        assert normalise_headers(raw, now) == normalise_headers_general(raw, now)


def test_caches_are_bounded() -> None:
    for i in range(1200):
        normalise_headers([(f"x-h{i}".encode(), b"v")], 0.0)
        core_request("POST", f"http://h{i}.example/p", [], b"", 1.0)
    assert len(http._NAMES) <= 512
    assert len(http._URLS) <= 257
    for i in range(600):
        core_request("POST", "http://h.example/p", [("x-n", str(i))], b"", 1.0)
    assert len(http._ENCODED) <= 256
