"""The proxy's per-request shortcuts (issue 6) keep their semantics: the disconnect
watcher spawned into the app's task group, settings-derived constants, header
lookup, token bytes and the event-loop choice."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace
from typing import Any

import anyio
import pytest
from _proxy_helpers import MSG, asgi, make_app, provider_config, run, sse_events

from adapters.fake_provider import FakeProviderServer
from adapters.proxy import ProxyApp
from adapters.proxy.asgi import header_map, read_body
from adapters.proxy.auth import token_bytes_match, token_matches
from adapters.proxy.errors import ProxyError
from adapters.proxy.server import backend_options

CHAT = {"model": "chat", "messages": MSG}


def one(plan: Any, fn: Any, backend: str = "asyncio", **overrides: Any) -> None:
    with FakeProviderServer(plan) as fp:
        run(make_app(provider_config([fp]), **overrides), fn, backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_disconnect_cancels_a_non_streamed_call_r42(backend: str) -> None:
    async def body(app: ProxyApp) -> None:
        assert app._tg is not None  # the watcher goes to the app's task group
        gone = anyio.Event()

        async def hang_up() -> None:
            with anyio.fail_after(10):
                while not app.flights:  # bounded: the request registers at once
                    await anyio.sleep(0.01)
            gone.set()

        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(hang_up)
            r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT, disconnect=gone)
        assert time.monotonic() - t0 < 3.0  # the provider would answer after 5 s
        assert r.status == 0 and r.body == b""  # nothing was sent to the gone client
        assert not app.flights
        status = app.client.pool_status_of("chat")
        assert status.active == 1 and status.models[0].failure_count == 0

    one([{"delay": 5.0}], body, backend)


def test_disconnect_after_the_answer_is_not_a_cancellation() -> None:
    async def body(app: ProxyApp) -> None:
        for stream in (True, False, True, False):
            gone = anyio.Event()

            async def on_message(msg: dict[str, Any], gone: anyio.Event = gone) -> None:
                # like hypercorn: http.disconnect is queued while the last body goes out
                if msg["type"] == "http.response.body" and not msg.get("more_body"):
                    gone.set()
                    await anyio.sleep(0)  # let the watcher see it before the app returns

            r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "stream": stream},
                           on_message=on_message, disconnect=gone)
            assert r.status == 200
            if stream:
                assert sse_events(r.body)[-1] == (None, "[DONE]")
            else:
                assert r.json()["choices"][0]["message"]["content"]
        assert not app.flights
        status = app.client.pool_status_of("chat")
        assert status.active == 1 and status.models[0].failure_count == 0

    one(None, body)


def test_stream_tail_is_one_message_with_usage_r114() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions",
                       body={**CHAT, "stream": True, "stream_options": {"include_usage": True}})
        bodies = [m for m in r.messages if m["type"] == "http.response.body"]
        last = bodies[-1]
        assert last["more_body"] is False
        assert last["body"].startswith(b"data: {") and last["body"].endswith(
            b"data: [DONE]\n\n")
        assert all(m["more_body"] for m in bodies[:-1])
        events = sse_events(r.body)
        assert '"usage"' in events[-2][1] and events[-1] == (None, "[DONE]")

    one(None, body)


def test_settings_constants_follow_reload_r115_r113() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "GET", "/v1/models", headers=[("origin", "https://a.example")])
        assert r.headers["access-control-allow-origin"] == "*"
        app.apply_settings(replace(app.settings, cors_origins=("https://a.example",),
                                   auth_enabled=True, tokens=("s3cret",)))
        hdrs = [("origin", "https://a.example"), ("authorization", "Bearer s3cret")]
        r = await asgi(app, "GET", "/v1/models", headers=hdrs)
        assert r.status == 200
        assert r.headers["access-control-allow-origin"] == "https://a.example"
        assert r.headers["vary"] == "Origin"
        r = await asgi(app, "GET", "/v1/models", headers=[("authorization", "Bearer nope")])
        assert r.status == 401 and "access-control-allow-origin" not in r.headers
        app.apply_settings(replace(app.settings, cors_enabled=False, auth_enabled=False))
        r = await asgi(app, "GET", "/v1/models", headers=[("origin", "https://a.example")])
        assert r.status == 200 and "access-control-allow-origin" not in r.headers

    one(None, body)


def test_header_map_keeps_the_first_value_lower_case() -> None:
    scope = {"headers": [(b"Content-Type", b"application/json"), (b"x-a", b"1"),
                         (b"X-A", b"2")]}
    assert header_map(scope) == {b"content-type": b"application/json", b"x-a": b"1"}
    assert header_map({}) == {}


def test_read_body_single_message_and_limits() -> None:
    async def main() -> None:
        msgs = [{"type": "http.request", "body": b"abc", "more_body": False}]

        async def receive() -> dict[str, Any]:
            return msgs.pop(0)

        assert await read_body({}, receive, 10, {b"content-length": b"3"}) == b"abc"
        msgs[:] = [{"type": "http.request", "body": b"ab", "more_body": True},
                   {"type": "http.request", "body": b"cd", "more_body": False}]
        assert await read_body({}, receive, 10, {}) == b"abcd"
        msgs[:] = [{"type": "http.request", "body": b"x" * 11, "more_body": False}]
        with pytest.raises(ProxyError) as big:
            await read_body({}, receive, 10, {})
        assert big.value.status == 413
        with pytest.raises(ProxyError) as declared:
            await read_body({}, receive, 10, {b"content-length": b"11"})
        assert declared.value.status == 413

    anyio.run(main)


def test_token_bytes_match_is_token_matches() -> None:
    tokens = ("alpha", "beta")
    encoded = tuple(t.encode() for t in tokens)
    for given in ("alpha", "beta", "gamma", "", None):
        assert token_bytes_match(given, encoded) is token_matches(given, tokens)
    assert token_bytes_match("beta", encoded) is True
    assert token_bytes_match(None, encoded) is False


def test_backend_options_loop_choice() -> None:
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    assert backend_options("trio", "auto") == {}
    assert backend_options("trio", "uvloop") == {}
    assert backend_options("asyncio", "asyncio") == {}
    assert backend_options("asyncio", "auto") == ({"use_uvloop": True} if has_uvloop else {})
    if has_uvloop:
        assert backend_options("asyncio", "uvloop") == {"use_uvloop": True}
    else:
        with pytest.raises(ValueError, match="not installed"):
            backend_options("asyncio", "uvloop")
    with pytest.raises(ValueError, match="loop must be one of"):
        backend_options("asyncio", "libuv")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_disconnect_watcher_starts_only_for_calls_still_running(
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On asyncio a call answered within WATCH_AFTER_S never starts a watcher
    task (it would cost as much as the rest of the app's work); a slower one
    does; under trio every routed call gets one at once."""
    from adapters.proxy import app as app_module

    started: list[str] = []
    real = ProxyApp._watch_disconnect

    async def counting(receive: Any, flight: Any) -> None:
        started.append(flight.pool)
        await real(receive, flight)

    monkeypatch.setattr(ProxyApp, "_watch_disconnect", staticmethod(counting))

    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "model": "fast"})
        assert r.status == 200  # answered in a few ms
        fast = len(started)
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "model": "slow"})
        assert r.status == 200
        if backend == "asyncio":
            assert fast == 0 and started == ["slow"]
        else:
            assert started == ["fast", "slow"]
        assert not app.flights

    monkeypatch.setattr(app_module, "WATCH_AFTER_S", 1.0)  # far above a fast answer
    with FakeProviderServer() as quick, FakeProviderServer([{"delay": 2.0}]) as slow:
        cfg = provider_config([quick, slow])
        cfg["pools"]["fast"] = {"models": ["p0.m0"]}
        cfg["pools"]["slow"] = {"models": ["p1.m1"]}
        run(make_app(cfg), body, backend)
