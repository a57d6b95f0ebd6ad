"""The simple sinks and the common sink parameters (SPEC R-88, R-89, R-92, R-96, R-98)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _obs_helpers import MSG, config_for, read_jsonl

from adapters import create
from adapters.fake_provider import FakeProviderServer
from adapters.observability import (
    BoundSink,
    CallbackSink,
    ConsoleSink,
    FileSink,
    Observability,
    Redactor,
    SinkSettings,
)
from meshcore.records import RequestLogEntry, RoutingEvent, StatsFlush, TraceEntry

TS = "2026-01-01T00:00:00Z"


def log_entry(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(timestamp=TS, request_id="r1", pool="chat", capability=None,
                delivery_mode="synchronous", model_id="p0.m0", provider_id="p0",
                status_code=200, outcome="success", attempts=1, latency_ms=12.0)
    base.update(kw)
    return RequestLogEntry(**base).to_dict()


def collecting(settings: SinkSettings | None = None) -> tuple[list[dict[str, Any]], BoundSink]:
    got: list[dict[str, Any]] = []
    return got, BoundSink("cb", CallbackSink(got.append), settings or SinkSettings(), Redactor())


def deliver(obs: Observability, *records: dict[str, Any], texts: Any = None) -> None:
    for r in records:
        obs.publish(r, texts)
    assert obs.drain(5.0)


def test_client_writes_every_stream_to_a_jsonl_file_r96(tmp_path: Path) -> None:
    path = tmp_path / "mesh.log"
    obs = {"connector": "modelmesh.file.v1", "path": str(path)}
    with FakeProviderServer() as srv, create(config=config_for(srv, observability=obs),
                                             seed=1) as client:
        client.chat.completions.create(model="chat", messages=MSG)
    types = {r["type"] for r in read_jsonl(path)}
    assert types == {"event", "log", "trace", "stats"}  # stats: the flush at close
    logs = [r for r in read_jsonl(path) if r["type"] == "log"]
    assert logs[0]["outcome"] == "success" and logs[0]["model_id"] == "p0.m0"
    assert "request_text" not in logs[0]  # default level: metadata
    traces = [r["message"] for r in read_jsonl(path) if r["type"] == "trace"]
    assert traces[0].startswith("Initialized: 1 provider(s), 1 pool(s)")
    assert traces[-1] == "Shutdown"


def test_file_rotation_by_size_r96(tmp_path: Path) -> None:
    path = tmp_path / "rot.log"
    sink = FileSink(path, max_file_size_bytes=400, max_files=3)
    for i in range(40):
        sink.write({"type": "trace", "i": i, "pad": "x" * 50})
    sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["rot.log", "rot.log.1", "rot.log.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 400
    newest = read_jsonl(path)
    assert newest[-1]["i"] == 39
    assert read_jsonl(tmp_path / "rot.log.1")[-1]["i"] == newest[0]["i"] - 1


def test_file_append_false_truncates_r96(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_text('{"old": 1}\n')
    sink = FileSink(path, append=False)
    sink.write({"type": "trace", "new": 1})
    sink.close()
    assert read_jsonl(path) == [{"type": "trace", "new": 1}]


def test_json_log_and_callback_through_client_r96(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    path = tmp_path / "events.jsonl"
    obs = [{"connector": "modelmesh.json-log.v1", "path": str(path), "streams": ["events"]},
           {"connector": "modelmesh.callback.v1", "callback": got.append,
            "streams": ["logs"]}]
    with FakeProviderServer() as srv, create(config=config_for(srv, observability=obs),
                                             seed=1) as client:
        client.chat.completions.create(model="chat", messages=MSG)
    assert {r["type"] for r in read_jsonl(path)} == {"event"}
    assert [r["type"] for r in got] == ["log"]


def test_console_format_and_options_r96() -> None:
    buf = io.StringIO()
    sink = ConsoleSink(buf, use_color=False, show_timestamp=False, prefix="[MM]")
    sink.write(TraceEntry("warning", TS, "pool.chat", "attempt failed").to_dict())
    sink.write(RoutingEvent("model_deactivated", TS, "p0.m0", "p0", "chat",
                            {"reason": "error_threshold"}).to_dict())
    lines = buf.getvalue().splitlines()
    assert lines[0] == "[MM] WARNING pool.chat: attempt failed"
    assert lines[1].startswith("[MM] EVENT model_deactivated") and "reason=error_threshold" in lines[1]
    colored = io.StringIO()
    ConsoleSink(colored, use_color=True).write(TraceEntry("error", TS, "mesh", "x").to_dict())
    assert "\033[31m" in colored.getvalue() and TS in colored.getvalue()


def test_console_stderr_default_r96(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleSink().write(TraceEntry("info", TS, "mesh", "hello").to_dict())
    err = capsys.readouterr().err
    assert "[ModelMesh]" in err and "hello" in err


def test_event_filter_groups_and_include_metadata_r89() -> None:
    settings = SinkSettings(event_filter=("model_deactivated", "provider_deactivated"),
                            include_metadata=False)
    got, bound = collecting(settings)
    obs = Observability([bound])
    deliver(obs,
            RoutingEvent("model_rotated", TS, "a", None, "chat", {"from_model": "b"}).to_dict(),
            RoutingEvent("model_deactivated", TS, "a", "p", "chat",
                         {"reason": "error_threshold", "standby_until": TS}).to_dict())
    assert [r["event_type"] for r in got] == ["model_deactivated"]
    assert got[0]["metadata"] == {"reason": "error_threshold"}
    assert got[0]["model_id"] == "a" and got[0]["timestamp"] == TS


def test_event_filter_groups_from_config_r89(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    obs = {"connector": "modelmesh.callback.v1", "callback": got.append,
           "events": {"filter": ["membership"]}, "streams": ["events"]}
    with FakeProviderServer() as srv, create(config=config_for(srv, observability=obs),
                                             seed=1) as client:
        client.chat.completions.create(model="chat", messages=MSG)
    assert got and {r["event_type"] for r in got} == {"pool_membership_changed"}


def test_min_severity_and_scopes_r89() -> None:
    got, bound = collecting(SinkSettings(min_severity="warning", scopes=("pool",)))
    obs = Observability([bound])
    deliver(obs, TraceEntry("info", TS, "mesh", "i").to_dict(),
            TraceEntry("error", TS, "mesh", "e").to_dict(),
            StatsFlush(TS, {"pool.chat": {"requests_total": 1},
                            "model.a": {"requests_total": 1}}).to_dict())
    assert [r.get("message") for r in got if r["type"] == "trace"] == ["e"]
    assert list(got[-1]["scopes"]) == ["pool.chat"]


def test_summary_level_keeps_256_characters_r92() -> None:
    got, bound = collecting(SinkSettings(level="summary"))
    texts = {"request_text": "q" * 300, "response_text": "a" * 10,
             "request_body": {"x": 1}, "response_body": {"y": 2}}
    deliver(Observability([bound]), log_entry(), texts=texts)
    assert got[0]["request_text"] == "q" * 256 and got[0]["response_text"] == "a" * 10
    assert "request_body" not in got[0]


def test_full_level_cuts_at_max_payload_size_r92() -> None:
    got, bound = collecting(SinkSettings(level="full", max_payload_size=100))
    big = {"messages": [{"role": "user", "content": "z" * 500}]}
    deliver(Observability([bound]), log_entry(),
            texts={"request_body": big, "response_body": {"content": "ok"}})
    rec = got[0]
    assert rec["truncated"] is True
    assert len(rec["request_body"].encode()) <= 100
    assert rec["response_body"] == {"content": "ok"}
    got2, bound2 = collecting(SinkSettings(level="full"))
    deliver(Observability([bound2]), log_entry(), texts={"request_body": big})
    assert got2[0]["request_body"] == big and "truncated" not in got2[0]


def test_summary_texts_through_client_r92() -> None:
    got: list[dict[str, Any]] = []
    obs = {"connector": "modelmesh.callback.v1", "callback": got.append,
           "logging": {"level": "summary"}, "streams": ["logs"]}
    with FakeProviderServer() as srv, create(config=config_for(srv, observability=obs),
                                             seed=1) as client:
        client.chat.completions.create(model="chat", messages=MSG)
        stream = client.chat.completions.create(model="chat", messages=MSG, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello from m0"
    assert [r["request_text"] for r in got] == ["hello there", "hello there"]
    assert [r["response_text"] for r in got] == ["Hello from m0", "Hello from m0"]
    assert [r["delivery_mode"] for r in got] == ["synchronous", "streaming"]


def test_raising_sink_never_fails_request_and_traces_once_per_minute_r98() -> None:
    got: list[dict[str, Any]] = []

    def boom(record: dict[str, Any]) -> None:
        raise RuntimeError("sink exploded")

    obs = [{"connector": "modelmesh.callback.v1", "callback": boom},
           {"connector": "modelmesh.callback.v1", "callback": got.append}]
    with FakeProviderServer() as srv, create(config=config_for(srv, observability=obs),
                                             seed=1) as client:
        for _ in range(3):
            resp = client.chat.completions.create(model="chat", messages=MSG)
            assert resp.choices[0].message.content == "Hello from m0"
    errors = [r for r in got if r["type"] == "trace" and "failed" in r["message"]
              and r["metadata"].get("sink")]
    assert len(errors) == 1  # at most one error trace per minute per failing sink
    assert errors[0]["severity"] == "error" and "sink exploded" in errors[0]["error"]
    assert sum(1 for r in got if r["type"] == "log") == 3  # other sinks keep receiving


def test_blocking_sink_never_delays_request_r98() -> None:
    release = threading.Event()
    got: list[dict[str, Any]] = []

    def slow(record: dict[str, Any]) -> None:
        release.wait(10)
        got.append(record)

    obs = {"connector": "modelmesh.callback.v1", "callback": slow}
    with FakeProviderServer() as srv:
        client = create(config=config_for(srv, observability=obs), seed=1)
        try:
            started = time.monotonic()
            for _ in range(3):
                client.chat.completions.create(model="chat", messages=MSG)
            assert time.monotonic() - started < 2.0
            assert got == []  # still blocked on the worker, not on the caller
        finally:
            release.set()
            client.close()
    assert any(r["type"] == "log" for r in got)


def test_custom_sink_instance_gets_interfaces_r88() -> None:
    class Mine:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        def emit(self, event: dict[str, Any]) -> None:
            self.calls.append(("emit", event["event_type"]))

        def log(self, entry: dict[str, Any]) -> None:
            self.calls.append(("log", entry["outcome"]))

        def trace(self, entry: dict[str, Any]) -> None:
            self.calls.append(("trace", entry["severity"]))

    mine = Mine()
    with FakeProviderServer() as srv, create(
            config=config_for(srv, observability={"instance": mine}), seed=1) as client:
        client.chat.completions.create(model="chat", messages=MSG)
    kinds = {k for k, _ in mine.calls}
    assert kinds == {"emit", "log", "trace"}
    assert ("log", "success") in mine.calls
