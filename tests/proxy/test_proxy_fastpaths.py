"""The proxy's per-request shortcuts (issue 6) against the general paths they
stand for: the JSON body decoder (`asgi.loads` vs `json.loads`), hypercorn's
response headers computed once a second (vs hypercorn's own method), the
shared default call options, and the shared timer that starts disconnect
watchers late (`flight.LateWatch`)."""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from typing import Any

import hypercorn.config as hconfig_stock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.namespaces import CallOptions
from adapters.proxy import hconfig
from adapters.proxy.app import ProxyApp
from adapters.proxy.asgi import Responder, loads
from adapters.proxy.errors import ProxyError
from adapters.proxy.flight import Flight, LateWatch

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)
_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                              "utf-32", "utf-32-le", "utf-32-be"])


def _outcome(fn: Any, raw: bytes) -> Any:
    try:
        value = fn(raw)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("value", json.dumps(value, sort_keys=True))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=12), st.sampled_from([b"", b"{", b"{\"", b"{\x00", b"[", b" {"]))
def test_loads_equals_json_loads_on_any_bytes(tail: bytes, head: bytes) -> None:
    raw = head + tail
    assert _outcome(loads, raw) == _outcome(json.loads, raw)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=4), _ENCODINGS,
       st.sampled_from(["", " ", "\ufeff", "x", "\ud800"]), st.booleans())
def test_loads_equals_json_loads_on_encoded_json(value: dict[str, Any], encoding: str,
                                                 junk: str, front: bool) -> None:
    text = json.dumps(value, ensure_ascii=False)
    text = junk + text if front else text + junk
    raw = text.encode(encoding, "surrogatepass")
    assert _outcome(loads, raw) == _outcome(json.loads, raw)


def test_loads_takes_the_short_path_only_for_utf8_objects() -> None:
    assert loads(b'{"a":"\xc3\xa9"}') == {"a": "\u00e9"}
    assert loads('{"a":1}'.encode("utf-16-le")) == {"a": 1}  # `{` then NUL: detected
    assert loads(codecs.BOM_UTF8 + b'{"a":1}') == {"a": 1}
    with pytest.raises(UnicodeDecodeError):
        loads(b'{"a":"\xff"}')


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1e9, max_value=2e9), min_size=1, max_size=6),
       st.sampled_from(["h11", "h2", "h3"]), st.booleans(), st.booleans())
def test_response_headers_equal_hypercorn_s(clock: list[float], protocol: str, date: bool,
                                            server: bool) -> None:
    now = {"t": 0.0}
    stock = hconfig_stock.Config()
    cached = hconfig.hypercorn_config(0, graceful_timeout=1.0, log_level="ERROR")
    for config in (stock, cached):
        config.include_date_header = date
        config.include_server_header = server
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hconfig_stock, "time", lambda: now["t"])
        mp.setattr(hconfig.time, "time", lambda: now["t"])
        for t in sorted(clock) + sorted(clock, reverse=True):
            now["t"] = t
            got = cached.response_headers(protocol)
            assert got == stock.response_headers(protocol)
            got.append((b"x", b"y"))  # a caller's change does not stick
            assert cached.response_headers(protocol) == stock.response_headers(protocol)


def test_options_without_headers_are_the_default() -> None:
    opts = ProxyApp._options({})
    assert opts == CallOptions() and opts is ProxyApp._options({b"x-other": b"1"})
    assert ProxyApp._options({b"x-modelmesh-session": b""}) == CallOptions()
    assert ProxyApp._options({b"x-modelmesh-session": b"s"}) == CallOptions(session_id="s")
    assert ProxyApp._options({b"x-modelmesh-timeout": b"2.5"}) == CallOptions(timeout=2.5)
    with pytest.raises(ProxyError):
        ProxyApp._options({b"x-modelmesh-timeout": b"nan"})


def _flight() -> Flight:
    async def send(msg: Any) -> None:
        pass

    return Flight(Responder(send, []), {})


async def _receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def test_late_watch_starts_due_flights_once_in_order() -> None:
    """Each flight still running at its due time is started once, at about that
    time and in due order; a finished one never; one timer serves them all."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        flights: set[Flight] = set()
        started: list[tuple[str, float]] = []
        names: dict[Flight, str] = {}
        due: dict[str, float] = {}
        watch = LateWatch(flights, lambda f: started.append((names[f], loop.time())))
        for name, delay, pause in (("a", 0.10, 0.03), ("b", 0.10, 0.03), ("done", 0.10, 0.0),
                                   ("c", 0.30, 0.0), ("d", 0.02, 0.0)):
            f = _flight()
            names[f] = name
            flights.add(f)
            watch.add(loop, f, _receive, delay)
            assert f.watch_at is not None
            due[name] = f.watch_at
            if name == "done":
                f.done = True
            await asyncio.sleep(pause)
        t0 = loop.time()
        while len(started) < 4 and loop.time() - t0 < 5:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        del due["done"]
        assert [n for n, _ in started] == sorted(due, key=due.__getitem__)
        for name, at in started:
            assert due[name] - 0.005 <= at <= due[name] + 0.5, (name, at - due[name])
        assert watch._timer is None  # nothing left to watch: no timer
        late = _flight()
        names[late] = "late"
        flights.add(late)
        watch.add(loop, late, _receive, 0.01)
        watch.close()
        await asyncio.sleep(0.05)
        assert len(started) == 4

    asyncio.run(main())


def test_late_watch_skips_a_flight_done_before_its_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        flights: set[Flight] = set()
        started: list[Flight] = []
        watch = LateWatch(flights, started.append)
        quick, slow = _flight(), _flight()
        flights.update((quick, slow))
        watch.add(loop, quick, _receive, 0.02)
        watch.add(loop, slow, _receive, 0.02)
        quick.done = True
        flights.discard(quick)
        t0 = time.monotonic()
        while not started and time.monotonic() - t0 < 2:
            await asyncio.sleep(0.01)
        assert started == [slow] and slow.receive is _receive and slow.watch_at is None

    asyncio.run(main())
