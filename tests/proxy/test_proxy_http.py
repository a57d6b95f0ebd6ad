"""The proxy's HTTP surface, called as an ASGI app (SPEC R-112 .. R-117)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from _proxy_helpers import MSG, Resp, asgi, make_app, provider_config, run, sse_events

from adapters.fake_provider import FakeProviderServer
from adapters.proxy import ProxyApp

CHAT = {"model": "chat", "messages": MSG}
JSON = [("content-type", "application/json")]


def one(srv_plan: Any, fn: Any, *, backend: str = "asyncio", cfg_kw: dict[str, Any] | None = None,
        **overrides: Any) -> None:
    with FakeProviderServer(srv_plan) as fp:
        app = make_app(provider_config([fp], **(cfg_kw or {})), **overrides)
        run(app, fn, backend)


def err(resp: Resp) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


# ---------------------------------------------------------------- R-112 endpoints


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_models_and_chat_with_metadata_headers_r112(backend: str) -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "GET", "/v1/models")
        assert r.status == 200
        listing = r.json()
        assert listing["object"] == "list"
        ids = [m["id"] for m in listing["data"]]
        assert ids == ["chat", "embed", "image", "tts", "stt"]
        assert all(m["owned_by"] == "modelmesh" and isinstance(m["created"], int)
                   and m["created"] > 0 for m in listing["data"])
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 200, r.body
        assert r.json()["choices"][0]["message"]["content"] == "Hello from m0"
        assert r.headers["x-modelmesh-model"] == "p0.m0"
        assert r.headers["x-modelmesh-provider"] == "p0"
        assert r.headers["x-modelmesh-pool"] == "chat"
        assert r.headers["x-modelmesh-attempts"] == "1"
        assert r.headers["x-request-id"].startswith("req-")

    one(None, body, backend=backend)


def test_failover_counts_attempts_r112() -> None:
    with FakeProviderServer([{"status": 500}]) as bad, FakeProviderServer() as good:
        app = make_app(provider_config([bad, good]))

        async def body(app: ProxyApp) -> None:
            r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
            assert r.status == 200
            assert r.headers["x-modelmesh-model"] == "p1.m1"
            assert r.headers["x-modelmesh-attempts"] == "2"

        run(app, body)


def test_embeddings_images_speech_transcriptions_r112() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/embeddings", body={"model": "embed", "input": ["a", "b"]})
        assert r.status == 200, r.body
        assert [d["index"] for d in r.json()["data"]] == [0, 1]
        r = await asgi(app, "POST", "/v1/images/generations",
                       body={"model": "image", "prompt": "a cat"})
        assert r.status == 200, r.body
        assert r.json()["data"][0]["url"].endswith(".png")
        r = await asgi(app, "POST", "/v1/audio/speech",
                       body={"model": "tts", "input": "hi", "voice": "alloy"})
        assert r.status == 200, r.body
        assert r.headers["content-type"] == "audio/mpeg"
        assert r.body.startswith(b"ID3")
        boundary = "XyZ123"
        form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nstt\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode() + \
            b"RIFF\x00\x01binary" + f"\r\n--{boundary}--\r\n".encode()
        ctype = [("content-type", f"multipart/form-data; boundary={boundary}")]
        r = await asgi(app, "POST", "/v1/audio/transcriptions", body=form, headers=ctype)
        assert r.status == 200, r.body
        assert r.json() == {"text": "Hello from stt"}
        text_form = form.replace(f"--{boundary}--".encode(), (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\n"
            f"text\r\n--{boundary}--").encode())
        r = await asgi(app, "POST", "/v1/audio/transcriptions", body=text_form, headers=ctype)
        assert r.status == 200, r.body
        assert r.headers["content-type"].startswith("text/plain")
        assert r.body == b"Hello from stt"

    one(None, body)


def test_management_endpoints_r112() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "GET", "/v1/modelmesh/pools")
        assert r.status == 200
        pools = r.json()
        assert pools["chat"]["active"] == 1 and pools["chat"]["models"][0]["model_id"] == "p0.m0"
        r = await asgi(app, "GET", "/v1/modelmesh/pools/chat/explain")
        assert r.status == 200 and r.json()["selected_model"] == "p0.m0"
        r = await asgi(app, "GET", "/v1/modelmesh/pools/nope/explain")
        assert r.status == 404 and err(r)["code"] == "not_found"
        r = await asgi(app, "POST", "/v1/modelmesh/models/p0.m0/deactivate")
        assert r.status == 200
        assert app.client.pool_status_of("chat").active == 0
        r = await asgi(app, "POST", "/v1/modelmesh/models/p0.m0/activate")
        assert r.status == 200 and app.client.pool_status_of("chat").active == 1
        r = await asgi(app, "POST", "/v1/modelmesh/providers/p0/deactivate")
        assert r.status == 200 and "p0" not in app.client.active_providers()
        r = await asgi(app, "POST", "/v1/modelmesh/providers/p0/activate")
        assert r.status == 200 and app.client.active_providers() == ["p0", "media"]
        r = await asgi(app, "POST", "/v1/modelmesh/models/p0/deactivate")  # a provider ID
        assert r.status == 404 and err(r)["code"] == "not_found"
        r = await asgi(app, "POST", "/v1/modelmesh/pools/chat/rotate")
        assert r.status == 200 and r.json() == {"selected_model": None}
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 429
        r = await asgi(app, "GET", "/v1/modelmesh/usage")
        assert r.status == 200 and "total_requests" in r.json()

    one(None, body)


def test_endpoint_left_out_answers_404_r112() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/embeddings", body={"model": "embed", "input": "a"})
        assert r.status == 404 and err(r)["code"] == "not_found"
        r = await asgi(app, "GET", "/v1/models")
        assert r.status == 200

    one(None, body, cfg_kw={"proxy": {"endpoints": ["/v1/models", "/health"]}})


def test_metrics_without_prometheus_sink_is_404_r112() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "GET", "/metrics")
        assert r.status == 404

    one(None, body)


def test_metrics_with_prometheus_sink_r112_r97() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 200, r.body
        r = await asgi(app, "GET", "/metrics")
        assert r.status == 200
        assert r.headers["content-type"].startswith("text/plain")
        text = r.body.decode()
        assert "modelmesh_requests_total" in text
        assert 'model="p0.m0"' in text

    with FakeProviderServer(None) as fp:
        cfg = provider_config([fp])
        cfg["observability"] = [{"connector": "prometheus"}]
        run(make_app(cfg), body, "asyncio")


# ---------------------------------------------------------------- R-113 auth


def test_bearer_auth_with_secret_reference_r113(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXY_TEST_TOKEN", "s3cret-token")

    async def body(app: ProxyApp) -> None:
        assert app.settings.auth_enabled and app.settings.tokens == ("s3cret-token",)
        r = await asgi(app, "GET", "/v1/models")
        assert r.status == 401 and r.headers["www-authenticate"] == "Bearer"
        assert err(r) == {"message": err(r)["message"], "type": "authentication_error",
                          "param": None, "code": "invalid_api_key"}
        assert "s3cret" not in r.body.decode()
        r = await asgi(app, "GET", "/v1/models", headers=[("authorization", "Bearer wrong")])
        assert r.status == 401
        r = await asgi(app, "GET", "/v1/models",
                       headers=[("authorization", "Basic czNjcmV0LXRva2Vu")])
        assert r.status == 401
        r = await asgi(app, "GET", "/v1/models",
                       headers=[("authorization", "Bearer s3cret-token")])
        assert r.status == 200
        r = await asgi(app, "GET", "/health")
        assert r.status == 200
        r = await asgi(app, "OPTIONS", "/v1/chat/completions",
                       headers=[("origin", "https://x.example"),
                                ("access-control-request-method", "POST")])
        assert r.status == 204
        # with auth enabled, commands from a non-loopback client are allowed
        r = await asgi(app, "POST", "/v1/modelmesh/models/p0.m0/deactivate",
                       client=("10.0.0.7", 4000),
                       headers=[("authorization", "Bearer s3cret-token")])
        assert r.status == 200

    one(None, body, cfg_kw={"proxy": {"auth": {"tokens": ["${env:PROXY_TEST_TOKEN}"]}}})


def test_commands_forbidden_from_non_loopback_without_auth_r113() -> None:
    async def body(app: ProxyApp) -> None:
        for path in ("/v1/modelmesh/models/p0.m0/deactivate", "/v1/modelmesh/pools/chat/rotate",
                     "/v1/modelmesh/providers/p0/activate"):
            r = await asgi(app, "POST", path, client=("192.0.2.10", 1234))
            assert r.status == 403, path
            assert err(r)["type"] == "permission_error" and err(r)["code"] == "forbidden"
        assert app.client.pool_status_of("chat").active == 1
        r = await asgi(app, "GET", "/v1/modelmesh/pools", client=("192.0.2.10", 1234))
        assert r.status == 200
        r = await asgi(app, "POST", "/v1/modelmesh/models/p0.m0/deactivate",
                       client=("::1", 1234))
        assert r.status == 200

    one(None, body)


# ---------------------------------------------------------------- R-114 SSE


def test_sse_framing_and_usage_chunk_r114() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions",
                       body={**CHAT, "stream": True, "stream_options": {"include_usage": True}})
        assert r.status == 200
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        assert r.headers["x-modelmesh-model"] == "p0.m0"
        assert r.body.endswith(b"data: [DONE]\n\n")
        events = sse_events(r.body)
        assert all(e is None for e, _ in events)
        import json

        chunks = [json.loads(d) for _, d in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in chunks if c["choices"])
        assert text == "Hello from m0"
        assert len({c["id"] for c in chunks}) == 1
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert all("usage" not in c for c in chunks[:-1])
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "stream": True})
        assert all("usage" not in json.loads(d) for _, d in sse_events(r.body)[:-1])

    one(None, body)


def test_after_commit_failure_ends_with_error_event_r114() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "stream": True})
        assert r.status == 200
        events = sse_events(r.body)
        assert events[0][0] is None
        assert events[-1][0] == "error"
        assert b"[DONE]" not in r.body
        import json

        payload = json.loads(events[-1][1])
        assert payload["error"]["code"] == "stream_interrupted"
        assert r.messages[-1]["more_body"] is False

    one([{"cut_after_chunks": 1}], body)


def test_pre_commit_stream_failure_is_plain_json_r114() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "stream": True})
        assert r.status == 502
        assert r.headers["content-type"] == "application/json"
        assert err(r)["code"] == "all_providers_exhausted"

    one([{"status": 500}], body)


def test_client_disconnect_cancels_stream_r114_r42() -> None:
    async def body(app: ProxyApp) -> None:
        gone = anyio.Event()

        async def on_message(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.body" and msg.get("body"):
                gone.set()

        t0 = time.monotonic()
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "stream": True},
                       on_message=on_message, disconnect=gone)
        assert time.monotonic() - t0 < 3.0  # the plan would take 5 s
        assert b"[DONE]" not in r.body
        status = app.client.pool_status_of("chat")
        assert status.active == 1 and status.models[0].failure_count == 0
        assert not app.flights

    one([{"chunk_delay": 1.0, "content": "one two three four five"}], body)


# ---------------------------------------------------------------- R-115 CORS


def test_cors_enabled_r115() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "GET", "/v1/models", headers=[("origin", "https://a.example")])
        assert r.headers["access-control-allow-origin"] == "https://a.example"
        r = await asgi(app, "GET", "/v1/models", headers=[("origin", "https://b.example")])
        assert "access-control-allow-origin" not in r.headers
        r = await asgi(app, "OPTIONS", "/v1/chat/completions",
                       headers=[("origin", "https://a.example"),
                                ("access-control-request-method", "POST"),
                                ("access-control-request-headers", "X-ModelMesh-Session")])
        assert r.status == 204
        assert r.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
        assert r.headers["access-control-allow-headers"] == (
            "Authorization, Content-Type, X-ModelMesh-Session")
        assert r.headers["access-control-max-age"] == "600"

    one(None, body, cfg_kw={"proxy": {"cors": {"origins": ["https://a.example"]}}})


def test_cors_default_star_and_disabled_r115() -> None:
    async def star(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body={"model": "nope"})
        assert r.headers["access-control-allow-origin"] == "*"

    one(None, star)

    async def off(app: ProxyApp) -> None:
        r = await asgi(app, "GET", "/v1/models", headers=[("origin", "https://a.example")])
        assert not any(k.startswith("access-control") for k in r.headers)
        r = await asgi(app, "OPTIONS", "/v1/models")
        assert r.status == 405 and err(r)["code"] == "method_not_allowed"

    one(None, off, cfg_kw={"proxy": {"cors": {"enabled": False}}})


# ---------------------------------------------------------------- R-116 errors


def test_request_errors_r116() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body=b"{not json", headers=JSON)
        assert r.status == 400 and err(r)["code"] == "invalid_request"
        r = await asgi(app, "POST", "/v1/chat/completions", body=b"", headers=JSON)
        assert r.status == 400 and err(r)["type"] == "invalid_request_error"
        r = await asgi(app, "POST", "/v1/chat/completions", body={"messages": MSG})
        assert r.status == 400 and err(r)["param"] == "model"
        r = await asgi(app, "POST", "/v1/chat/completions", body={"model": "chat",
                                                                  "messages": "hi"})
        assert r.status == 400 and err(r)["param"] == "messages"
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT,
                       headers=[("x-modelmesh-timeout", "soon")])
        assert r.status == 400 and err(r)["param"] == "X-ModelMesh-Timeout"
        r = await asgi(app, "POST", "/v1/chat/completions", body={**CHAT, "model": "nope"})
        assert r.status == 404 and err(r)["code"] == "model_not_found"
        r = await asgi(app, "GET", "/v1/nothing")
        assert r.status == 404 and err(r)["code"] == "not_found"
        r = await asgi(app, "GET", "/v1/chat/completions")
        assert r.status == 405 and err(r)["code"] == "method_not_allowed"
        assert "POST" in r.headers["allow"]
        r = await asgi(app, "POST", "/v1/chat/completions", body=b"x" * 300, headers=JSON)
        assert r.status == 413 and err(r)["code"] == "request_too_large"
        r = await asgi(app, "POST", "/v1/chat/completions", body=b"hello",
                       headers=[("content-type", "text/plain")])
        assert r.status == 415 and err(r)["code"] == "unsupported_media_type"
        r = await asgi(app, "POST", "/v1/audio/transcriptions", body={"model": "stt"})
        assert r.status == 415

    one(None, body, max_body_size=200)


def test_routing_errors_502_400_r116() -> None:
    async def exhausted(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 502
        e = r.json()
        assert e["error"]["type"] == "api_error"
        assert e["error"]["code"] == "all_providers_exhausted"
        assert e["modelmesh"]["pool"] == "chat"
        assert e["modelmesh"]["attempts"] == [{"model_id": "p0.m0", "provider_id": "p0",
                                               "class": "server_error", "status_code": 500}]
        assert "test-key" not in r.body.decode()

    one([{"status": 500}], exhausted)

    async def request_fault(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 400
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert r.json()["modelmesh"]["attempts"][0]["class"] == "bad_request"

    one([{"status": 400}], request_fault)


def test_no_active_model_429_with_retry_after_r116() -> None:
    async def body(app: ProxyApp) -> None:
        first = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert first.status in (429, 502)
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 429, r.body
        assert err(r)["type"] == "rate_limit_error" and err(r)["code"] == "no_active_model"
        assert 1 <= int(r.headers["retry-after"]) <= 120
        await asgi(app, "POST", "/v1/modelmesh/models/p0.m0/deactivate")
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 429

    one([{"status": 429, "retry_after": 60}], body)


def test_deadline_exceeded_504_r116() -> None:
    async def body(app: ProxyApp) -> None:
        t0 = time.monotonic()
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT,
                       headers=[("x-modelmesh-timeout", "0.3")])
        assert time.monotonic() - t0 < 2.0
        assert r.status == 504 and err(r)["code"] == "deadline_exceeded"

    one([{"delay": 3.0}], body)


def test_session_model_unavailable_503_r116() -> None:
    with FakeProviderServer() as a, FakeProviderServer() as b:
        app = make_app(provider_config([a, b], pool={"strategy": "session-stickiness",
                                                     "affinity_mode": "strict"}))

        async def body(app: ProxyApp) -> None:
            session = [("x-modelmesh-session", "user-42")]
            r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT, headers=session)
            assert r.status == 200
            model = r.headers["x-modelmesh-model"]
            r2 = await asgi(app, "POST", "/v1/chat/completions", body=CHAT, headers=session)
            assert r2.headers["x-modelmesh-model"] == model
            await asgi(app, "POST", f"/v1/modelmesh/models/{model}/deactivate")
            r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT, headers=session)
            assert r.status == 503 and err(r)["code"] == "session_model_unavailable"

        run(app, body)


def test_internal_error_500_and_shutting_down_503_r116(monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(app: ProxyApp) -> None:
        async def boom(*args: Any, **kw: Any) -> Any:
            raise RuntimeError("secret detail")

        monkeypatch.setattr(app.client, "_call", boom)
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 500 and err(r)["code"] == "internal_error"
        assert "secret detail" not in r.body.decode()
        app.begin_shutdown()
        r = await asgi(app, "GET", "/v1/models")
        assert r.status == 503 and err(r)["code"] == "shutting_down"
        r = await asgi(app, "GET", "/health")
        assert r.status == 503 and r.json()["status"] == "draining"
        with anyio.fail_after(5):
            await app.wait_drained()

    one(None, body)


# ---------------------------------------------------------------- R-117 health


def test_health_ok_and_degraded_r117() -> None:
    async def body(app: ProxyApp) -> None:
        await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        r = await asgi(app, "GET", "/health")
        h = r.json()
        assert r.status == 200 and h["status"] == "ok" and h["running"] is True
        assert h["host"] == "127.0.0.1" and h["port"] == app.port
        assert h["total_requests"] == 2 and h["active_connections"] == 0
        assert h["uptime_seconds"] >= 0
        assert h["pools"]["chat"] == {"active": 1, "standby": 0, "half_open": 0}
        await asgi(app, "POST", "/v1/modelmesh/models/media.img/deactivate")
        h = (await asgi(app, "GET", "/health")).json()
        assert h["status"] == "degraded"
        assert h["pools"]["image"] == {"active": 0, "standby": 1, "half_open": 0}

    one(None, body)


def test_content_filter_400_r116() -> None:
    async def body(app: ProxyApp) -> None:
        r = await asgi(app, "POST", "/v1/chat/completions", body=CHAT)
        assert r.status == 400, r.body
        assert err(r)["type"] == "invalid_request_error"
        assert err(r)["code"] == "content_filter"

    one([{"status": 400, "code": "content_policy_violation"}], body)
