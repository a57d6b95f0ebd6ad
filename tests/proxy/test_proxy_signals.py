"""`modelmesh serve` as a subprocess: SIGTERM drains (R-118), SIGHUP reloads (R-118a)."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _proxy_helpers import MSG, provider_config

from adapters.fake_provider import FakeProviderServer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


class Serve:
    """A `modelmesh serve` child process; `port` parsed from its first stdout line."""

    def __init__(self, config: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "serve", "--config", str(config),
             "--port", "0", "--log-level", "WARNING", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        self.reader = threading.Thread(target=lambda: [lines.put(x) for x in stdout],
                                       daemon=True)
        self.reader.start()
        try:
            first = lines.get(timeout=20)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("serve did not announce its port") from None
        assert first.startswith("listening on http://127.0.0.1:"), first
        self.port = int(first.strip().rsplit(":", 1)[1])

    def request(self, method: str, path: str, body: Any = None,
                timeout: float = 20.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"content-type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def pools(self) -> dict[str, Any]:
        status, body = self.request("GET", "/v1/modelmesh/pools")
        assert status == 200
        result: dict[str, Any] = json.loads(body)
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.reader.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def serve_factory() -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def make(config: Path, *extra: str) -> Serve:
        s = Serve(config, *extra)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def write(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def test_sigterm_drains_in_flight_request_and_exits_0_r118(
        tmp_path: Path, serve_factory: Callable[..., Serve]) -> None:
    with FakeProviderServer([{"delay": 1.5}]) as fp:
        srv = serve_factory(write(tmp_path / "c.json", provider_config([fp])))
        result: dict[str, Any] = {}

        def call() -> None:
            result["r"] = srv.request("POST", "/v1/chat/completions",
                                      {"model": "chat", "messages": MSG})

        t = threading.Thread(target=call)
        t.start()
        assert wait_for(lambda: len(fp.requests) == 1)
        srv.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: refused(srv.port), 5.0), "listener still accepting"
        t.join(20)
        status, body = result["r"]
        assert status == 200, body
        assert json.loads(body)["choices"][0]["message"]["content"] == "Hello from m0"
        assert srv.proc.wait(timeout=20) == 0


def test_sigterm_cancels_stream_after_shutdown_timeout_r118(
        tmp_path: Path, serve_factory: Callable[..., Serve]) -> None:
    words = " ".join(f"w{i}" for i in range(30))
    with FakeProviderServer([{"chunk_delay": 0.5, "content": words}]) as fp:
        cfg = provider_config([fp], proxy={"shutdown_timeout": "1s"})
        srv = serve_factory(write(tmp_path / "c.json", cfg))
        got: dict[str, Any] = {}

        def call() -> None:
            got["r"] = srv.request("POST", "/v1/chat/completions",
                                   {"model": "chat", "messages": MSG, "stream": True})

        t = threading.Thread(target=call)
        t.start()
        assert wait_for(lambda: len(fp.requests) == 1)
        time.sleep(0.8)  # committed: a few chunks are out
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        t.join(20)
        assert srv.proc.wait(timeout=20) == 0
        assert time.monotonic() - t0 < 10.0  # the stream alone would take 15 s
        status, body = got["r"]
        assert status == 200
        text = body.decode()
        assert text.startswith("data: ")
        assert "event: error" in text and "[DONE]" not in text


def test_sighup_reload_keeps_surviving_state_r118a(
        tmp_path: Path, serve_factory: Callable[..., Serve]) -> None:
    with FakeProviderServer() as a, FakeProviderServer() as b, FakeProviderServer() as c:
        path = write(tmp_path / "c.json", provider_config([a, b]))
        srv = serve_factory(path)
        status, _ = srv.request("POST", "/v1/modelmesh/models/p0.m0/deactivate")
        assert status == 200
        before = srv.pools()["chat"]
        assert before["total"] == 2 and before["active"] == 1
        write(path, provider_config([a, b, c]))
        srv.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: srv.pools()["chat"]["total"] == 3), srv.pools()
        rows = {m["model_id"]: m for m in srv.pools()["chat"]["models"]}
        assert rows["p0.m0"]["status"] == "standby" and rows["p0.m0"]["reason"] == "manual"
        assert rows["p1.m1"]["status"] == "active" and rows["p2.m2"]["status"] == "active"
        status, body = srv.request("POST", "/v1/chat/completions",
                                   {"model": "chat", "messages": MSG})
        assert status == 200 and json.loads(body)["model"] in ("p1.m1", "p2.m2")
        # an invalid configuration is refused and the old one keeps serving
        path.write_text('{"pools": {"chat": {"strategy": "no-such-strategy"}}}',
                        encoding="utf-8")
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert srv.pools()["chat"]["total"] == 3
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=20) == 0
        assert srv.proc.stderr is not None
        assert "reload failed" in srv.proc.stderr.read()


def test_sigterm_closes_idle_keep_alive_connections_at_once_r118(
        tmp_path: Path, serve_factory: Callable[..., Serve]) -> None:
    """An idle keep-alive connection does not hold up the exit: it is closed
    as the drain starts (not after the 30 s keep-alive or graceful timeout)."""
    with FakeProviderServer() as fp:
        srv = serve_factory(write(tmp_path / "c.json", provider_config([fp])))
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        try:
            for _ in range(2):  # the same connection twice: it is kept alive
                conn.request("POST", "/v1/chat/completions",
                              body=json.dumps({"model": "chat", "messages": MSG}),
                              headers={"content-type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read()
            assert conn.sock is not None
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            assert conn.sock.recv(100) == b""  # closed by the server
            assert srv.proc.wait(timeout=20) == 0
            assert time.monotonic() - t0 < 10.0
        finally:
            conn.close()
