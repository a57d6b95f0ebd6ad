"""The fault catalogue's four targets behind one blocking facade (issue 6).

A scenario is written once against `Session` and runs on four targets: the
sync client, the async client on asyncio and on trio (all three through the
blocking facade of _client_facade.py), and
the HTTP proxy (`ProxyServer` on a background thread, called with
`http.client` and a socket timeout). Every call returns an `Outcome` with the
same normalised fields whatever the target, so one assertion covers all four:
who served, the text, the usage the caller saw, the finish reasons, the error
kind and its attempt history, and the wall time of the call.

Every call carries a request deadline (`timeout=` for the clients,
`X-ModelMesh-Timeout` for the proxy) and a hard bound on top of it (the
facade's `fail_after` for async clients, the socket timeout for the proxy).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from _client_facade import ClientFacade, open_client

from adapters import AllProvidersExhaustedError, ProviderError, StreamInterruptedError
from adapters.fake_provider import FakeProviderServer
from adapters.proxy import ProxyServer

TARGETS = ("sync", "asyncio", "trio", "proxy")
MSG = [{"role": "user", "content": "hello there"}]
MARGIN = 1.5  # seconds a call may overrun its deadline (loaded 2-core machine)
SOCKET_SLACK = 5.0  # the proxy call's socket timeout = deadline + this
POLL = 0.02

# what the proxy answers for each error kind the clients raise.
PROXY_ERRORS: dict[str, tuple[int, str]] = {
    "exhausted": (502, "all_providers_exhausted"),
    "deadline_exceeded": (504, "deadline_exceeded"),
    "content_filter": (400, "content_filter"),
}
_REQUEST_FAULTS = ("bad_request", "context_length_exceeded")


def ok(prompt: int, completion: int, **extra: Any) -> dict[str, Any]:
    """A successful fake-provider step reporting exactly these token counts."""
    return {"usage": {"prompt_tokens": prompt, "completion_tokens": completion}, **extra}


def config(servers: list[FakeProviderServer], *, timeout: str = "1s",
           pool: dict[str, Any] | None = None,
           models: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Provider `p<i>` with chat model `p<i>.m<i>` per server, in pool `chat` in
    server order; no same-model retry unless `pool` says so. Short provider
    timeouts keep every scenario fast."""
    provs: dict[str, Any] = {}
    mods: dict[str, Any] = {}
    for i, srv in enumerate(servers):
        provs[f"p{i}"] = {"connector": "openai.compatible.v1", "base_url": srv.base_url,
                          "api_key": "test-key", "timeout": timeout}
        mods[f"p{i}.m{i}"] = {"provider": f"p{i}", "name": f"m{i}",
                              "capabilities": ["chat-completion"],
                              **(models or {}).get(f"p{i}.m{i}", {})}
    retry = {"max_attempts": 1, **(pool or {}).get("retry", {})}
    return {"providers": provs, "models": mods,
            "pools": {"chat": {"models": list(mods), **(pool or {}), "retry": retry}}}


def served_log(*servers: FakeProviderServer) -> list[str]:
    """Every chat request the fake providers received, as model names in order of
    receipt: the attempt history seen from the provider side."""
    recs = [r for s in servers for r in s.requests if r.path.endswith("/chat/completions")]
    return [str(r.model) for r in sorted(recs, key=lambda r: r.received_at)]


@dataclass
class Outcome:
    """One call as the caller saw it, normalised across targets."""

    target: str
    elapsed: float
    model: str | None = None  # the model that served a complete answer
    text: str = ""
    usage: tuple[int, int] | None = None  # (prompt, completion) the caller was given
    finish_reasons: list[str] = field(default_factory=list)
    chunk_models: set[str] = field(default_factory=set)
    chunk_ids: set[str] = field(default_factory=set)
    error: str | None = None  # exhausted, deadline_exceeded, content_filter, ...
    error_model: str | None = None  # StreamInterruptedError.model_id / SSE modelmesh
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (model_id, class)
    exc: BaseException | None = None  # client targets
    status: int | None = None  # proxy: HTTP status
    headers: dict[str, str] = field(default_factory=dict)  # proxy: response headers
    body: Any = None  # proxy: JSON body (non-stream or pre-commit error)
    sse_done: bool = False  # proxy: `data: [DONE]` seen
    sse_errors: list[dict[str, Any]] = field(default_factory=list)  # proxy: `event: error`

    @property
    def complete(self) -> bool:
        """Presented to the caller as a complete answer (a final chunk / a 200 body)."""
        return self.error is None and bool(self.finish_reasons)


class Session:
    """One open target: a client (through `ClientFacade`) or a proxy."""

    target: str

    def chat(self, *, deadline: float, stream: bool = False, **kw: Any) -> Outcome:
        """One chat completion with request deadline `deadline` seconds."""
        raise NotImplementedError

    def usage(self) -> dict[str, Any]:
        """The usage totals (R-64)."""
        raise NotImplementedError

    def row(self, model_id: str) -> dict[str, Any]:
        """The pool-status row of one model of pool `chat`."""
        raise NotImplementedError

    def wait_until(self, cond: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Bounded poll of `cond`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(POLL)
        return cond()


def _client_error(out: Outcome, exc: BaseException) -> None:
    out.exc = exc
    if isinstance(exc, StreamInterruptedError):
        out.error, out.error_model = "stream_interrupted", exc.model_id
    elif isinstance(exc, AllProvidersExhaustedError):
        out.error = str(exc.details.get("reason"))
        out.attempts = [(a.model_id, a.outcome.value) for a in exc.attempts]
    elif isinstance(exc, ProviderError) and exc.code == "content_filter":
        out.error = "content_filter"
        out.attempts = [(str(exc.model_id), "content_filter")]
    else:
        out.error = type(exc).__name__


class ClientSession(Session):
    """The sync client or an async client (asyncio / trio) via `ClientFacade`."""

    def __init__(self, mesh: ClientFacade) -> None:
        self.mesh = mesh
        self.target = mesh.driver

    def chat(self, *, deadline: float, stream: bool = False, **kw: Any) -> Outcome:
        out = Outcome(self.target, 0.0)
        t0 = time.monotonic()
        if stream:
            res = self.mesh.stream(MSG, timeout=deadline, **kw)
            out.elapsed = time.monotonic() - t0
            for c in res.chunks:
                out.chunk_models.add(c.model)
                out.chunk_ids.add(c.id)
                if c.usage is not None:
                    out.usage = (c.usage.prompt_tokens, c.usage.completion_tokens)
                for ch in c.choices:
                    out.text += ch.delta.content or ""
                    if ch.finish_reason:
                        out.finish_reasons.append(ch.finish_reason)
            if res.error is not None:
                _client_error(out, res.error)
            elif len(out.chunk_models) == 1:
                out.model = next(iter(out.chunk_models))
            return out
        try:
            resp = self.mesh.chat(MSG, timeout=deadline, **kw)
        except Exception as exc:
            out.elapsed = time.monotonic() - t0
            _client_error(out, exc)
            return out
        out.elapsed = time.monotonic() - t0
        out.model = resp.model
        out.text = resp.choices[0].message.content or ""
        out.finish_reasons = [c.finish_reason for c in resp.choices if c.finish_reason]
        if resp.usage is not None:
            out.usage = (resp.usage.prompt_tokens, resp.usage.completion_tokens)
        return out

    def usage(self) -> dict[str, Any]:
        result: dict[str, Any] = self.mesh.call(lambda: self.mesh.client.usage)
        return result

    def row(self, model_id: str) -> dict[str, Any]:
        r = self.mesh.row(model_id)
        return {"status": r.status, "reason": r.reason, "failure_count": r.failure_count}


def sse_events(data: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event, data) pairs."""
    out: list[tuple[str | None, str]] = []
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        event: str | None = None
        payload: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                payload.append(line[len("data: "):])
        out.append((event, "\n".join(payload)))
    return out


class ProxySession(Session):
    """The proxy over loopback HTTP, one connection per call."""

    target = "proxy"

    def __init__(self, srv: ProxyServer) -> None:
        self.srv = srv

    def _request(self, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=timeout)
        try:
            raw = None if body is None else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, raw, hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def chat(self, *, deadline: float, stream: bool = False, **kw: Any) -> Outcome:
        out = Outcome(self.target, 0.0)
        body: dict[str, Any] = {"model": "chat", "messages": MSG, **kw}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        t0 = time.monotonic()
        status, headers, data = self._request(
            "POST", "/v1/chat/completions", body, {"X-ModelMesh-Timeout": str(deadline)},
            timeout=deadline + SOCKET_SLACK)
        out.elapsed = time.monotonic() - t0
        out.status, out.headers = status, headers
        if headers.get("content-type", "").startswith("text/event-stream"):
            self._parse_stream(out, data)
            return out
        out.body = json.loads(data)
        if status == 200:
            out.model = out.body["model"]
            choice = out.body["choices"][0]
            out.text = choice["message"]["content"] or ""
            out.finish_reasons = [choice["finish_reason"]] if choice["finish_reason"] else []
            u = out.body.get("usage")
            if u is not None:
                out.usage = (u["prompt_tokens"], u["completion_tokens"])
            return out
        self._parse_error(out, out.body)
        return out

    @staticmethod
    def _parse_error(out: Outcome, body: dict[str, Any]) -> None:
        code = body["error"]["code"]
        mm = body.get("modelmesh") or {}
        out.attempts = [(a["model_id"], a["class"]) for a in mm.get("attempts", [])]
        kinds = {v: k for k, v in PROXY_ERRORS.items()}
        out.error = kinds.get((out.status or 0, code), f"{out.status}:{code}")
        if (out.status == 400 and out.attempts and code != "content_filter"
                and all(cls in _REQUEST_FAULTS for _, cls in out.attempts)):
            out.error = "exhausted"  # every attempt a request fault -> 400

    @staticmethod
    def _parse_stream(out: Outcome, data: bytes) -> None:
        for event, payload in sse_events(data):
            if event == "error":
                err = json.loads(payload)
                out.sse_errors.append(err)
                out.error = err["error"]["code"]
                out.error_model = (err.get("modelmesh") or {}).get("model_id")
                continue
            if payload == "[DONE]":
                out.sse_done = True
                continue
            chunk = json.loads(payload)
            out.chunk_models.add(chunk["model"])
            out.chunk_ids.add(chunk["id"])
            if chunk.get("usage"):
                out.usage = (chunk["usage"]["prompt_tokens"],
                             chunk["usage"]["completion_tokens"])
            for ch in chunk["choices"]:
                out.text += ch["delta"].get("content") or ""
                if ch.get("finish_reason"):
                    out.finish_reasons.append(ch["finish_reason"])
        if out.error is None and len(out.chunk_models) == 1:
            out.model = next(iter(out.chunk_models))

    def usage(self) -> dict[str, Any]:
        status, _, data = self._request("GET", "/v1/modelmesh/usage")
        assert status == 200
        result: dict[str, Any] = json.loads(data)
        return result

    def row(self, model_id: str) -> dict[str, Any]:
        status, _, data = self._request("GET", "/v1/modelmesh/pools")
        assert status == 200
        rows = json.loads(data)["chat"]["models"]
        r = next(m for m in rows if m["model_id"] == model_id)
        return {"status": r["status"], "reason": r["reason"],
                "failure_count": r["failure_count"]}


@dataclass(frozen=True)
class Target:
    """One of the four targets; `open(config)` yields a `Session`."""

    name: str

    @property
    def is_proxy(self) -> bool:
        return self.name == "proxy"

    @contextmanager
    def open(self, cfg: dict[str, Any], *, seed: int = 11) -> Iterator[Session]:
        """A fresh client (or proxy in front of a fresh async client) for `cfg`."""
        if self.name == "proxy":
            with ProxyServer(config=cfg, seed=seed, backend="asyncio") as srv:
                yield ProxySession(srv)
            return
        with open_client(self.name, cfg, seed=seed) as mesh:
            yield ClientSession(mesh)


# ------------------------------------------------------------------ assertions


def assert_served(out: Outcome, model: str, usage: tuple[int, int], *, deadline: float,
                  text: str | None = None, stream: bool = False) -> None:
    """A complete answer from `model` with the provider's usage, within the deadline."""
    assert out.error is None, (out.error, out.exc, out.body, out.sse_errors)
    assert out.model == model
    assert out.usage == usage  # exactly what the provider reported
    assert out.finish_reasons == ["stop"]
    if text is not None:
        assert out.text == text
    assert out.elapsed < deadline + MARGIN, out.elapsed
    if stream:
        assert out.chunk_models == {model}  # the real model on every chunk
        assert len(out.chunk_ids) == 1  # one id for the whole stream
    if out.target == "proxy":
        assert out.status == 200
        assert out.headers["x-modelmesh-model"] == model
        assert out.headers["x-modelmesh-pool"] == "chat"
        if stream:  # framing of a complete stream
            assert out.headers["content-type"].startswith("text/event-stream")
            assert out.headers["cache-control"] == "no-cache"
            assert out.headers["x-accel-buffering"] == "no"
            assert out.sse_done and out.sse_errors == []


def assert_failed(out: Outcome, kind: str, attempts: list[tuple[str, str]] | None, *,
                  deadline: float, proxy: tuple[int, str] | None = None) -> None:
    """The request ended with error `kind` (and this attempt history, when given),
    within its deadline; nothing was presented as a complete answer. The proxy
    answers `proxy` (status, code), by default the R-116 row of `kind`."""
    assert out.error == kind, (out.error, out.exc, out.body, out.sse_errors)
    assert out.model is None and not out.complete
    if attempts is not None:
        assert out.attempts == attempts
    assert out.elapsed < deadline + MARGIN, out.elapsed
    if out.target == "proxy":
        status, code = proxy or PROXY_ERRORS[kind]
        assert (out.status, out.body["error"]["code"]) == (status, code)
        assert out.body["modelmesh"]["pool"] == "chat"
        assert out.headers["content-type"].startswith("application/json")


def assert_interrupted(out: Outcome, model: str, *, deadline: float) -> None:
    """R-68: a stream broken after commit: the chunks received, then an error; never
    a final chunk; the proxy ends with `event: error` and no `[DONE]` (R-114)."""
    assert out.error == "stream_interrupted", (out.error, out.exc, out.body)
    assert out.error_model == model
    assert out.finish_reasons == []  # never presented as complete
    assert out.model is None and not out.complete
    assert out.chunk_models == {model}
    assert out.text  # content before the break reached the caller
    assert out.elapsed < deadline + MARGIN, out.elapsed
    if out.target == "proxy":
        assert out.status == 200  # headers went out at commit
        assert out.headers["content-type"].startswith("text/event-stream")
        assert not out.sse_done
        assert len(out.sse_errors) == 1
        err = out.sse_errors[0]["error"]
        assert (err["type"], err["code"]) == ("api_error", "stream_interrupted")
    else:
        exc = out.exc
        assert isinstance(exc, StreamInterruptedError)
        assert exc.partial_text == out.text


def assert_usage_totals(sess: Session, by_model: dict[str, tuple[int, int, int]]) -> None:
    """R-64: totals equal the sums of the delivered responses' usage.
    `by_model` maps model -> (requests, prompt tokens, completion tokens)."""
    usage = sess.usage()
    assert usage["total_requests"] == sum(r for r, _, _ in by_model.values())
    assert usage["prompt_tokens"] == sum(p for _, p, _ in by_model.values())
    assert usage["completion_tokens"] == sum(c for _, _, c in by_model.values())
    got = {m: (v["requests"], v["tokens"]) for m, v in usage["by_model"].items()
           if v["requests"] or v["tokens"]}
    assert got == {m: (r, p + c) for m, (r, p, c) in by_model.items()}
