"""`modelmesh.prometheus.v1` (SPEC R-96, R-97)."""

from __future__ import annotations

import re
import socket
import urllib.request

from _obs_helpers import MSG, config_for

from adapters import create
from adapters.fake_provider import FakeProviderServer
from adapters.observability import PrometheusSink, metrics_text
from meshcore.actions import AttemptRecord
from meshcore.records import RoutingEvent
from meshcore.types import OutcomeClass

TS = "2026-01-01T00:00:00Z"
R97 = {
    "modelmesh_requests_total": {"pool", "model", "provider", "outcome"},
    "modelmesh_attempts_total": {"pool", "model", "provider", "class"},
    "modelmesh_tokens_total": {"pool", "model", "provider", "direction"},
    "modelmesh_cost_usd_total": {"pool", "model", "provider"},
    "modelmesh_request_latency_seconds_bucket": {"pool", "model", "provider", "le"},
    "modelmesh_time_to_first_token_seconds_bucket": {"pool", "model", "provider", "le"},
    "modelmesh_model_active": {"pool", "model", "provider"},
    "modelmesh_deactivations_total": {"pool", "model", "reason"},
    "modelmesh_rotations_total": {"pool", "reason"},
    "modelmesh_budget_spent_usd": {"provider", "period"},
}
SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def test_client_metrics_names_labels_and_buckets_r97() -> None:
    with FakeProviderServer() as a, FakeProviderServer() as b:
        a.set_plan([{"status": 500}])
        cfg = config_for(a, b, observability={"connector": "modelmesh.prometheus.v1"},
                         pool={"deactivation": {"retry_limit": 1}})
        cfg["providers"]["p0"]["budget"] = {"daily_limit": 5.0}
        with create(config=cfg, seed=1) as client:
            client.chat.completions.create(model="chat", messages=MSG)
            list(client.chat.completions.create(model="chat", messages=MSG, stream=True))
            text = (metrics_text(client) or b"").decode()
    got = samples(text)
    names = {n for n, _, _ in got}
    for name, labels in R97.items():
        assert name in names, name
        assert all(set(lb) == labels for n, lb, _ in got if n == name), name
    buckets = sorted({float(lb["le"]) for n, lb, _ in got
                      if n == "modelmesh_request_latency_seconds_bucket" and lb["le"] != "+Inf"})
    assert buckets == [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
    classes = {lb["class"] for n, lb, _ in got if n == "modelmesh_attempts_total"}
    assert {"server_error", "success"} <= classes
    active = {lb["model"]: v for n, lb, v in got if n == "modelmesh_model_active"}
    assert active == {"p0.m0": 0.0, "p1.m1": 1.0}
    deact = [lb for n, lb, _ in got if n == "modelmesh_deactivations_total"]
    assert deact == [{"pool": "chat", "model": "p0.m0", "reason": "error_threshold"}]
    assert any(lb["provider"] == "p0" and lb["period"] for n, lb, _ in got
               if n == "modelmesh_budget_spent_usd")
    ok = [v for n, lb, v in got if n == "modelmesh_requests_total" and lb["outcome"] == "success"]
    assert sum(ok) >= 1


def test_events_drive_active_gauge_and_rotations_r97() -> None:
    sink = PrometheusSink()
    sink.bind({"a": "pa", "b": "pb"}, {"a": ["chat"], "b": ["chat"]})
    sink.write(RoutingEvent("pool_membership_changed", TS, pool_id="chat",
                            metadata={"added": ["a", "b"], "removed": []}).to_dict())
    sink.write(RoutingEvent("provider_deactivated", TS, provider_id="pa",
                            metadata={"reason": "auth_failure"}).to_dict())
    sink.write(RoutingEvent("model_rotated", TS, "b", None, "chat",
                            {"from_model": "a", "to_model": "b", "reason": "auth"}).to_dict())
    sink.attempts("chat", [AttemptRecord("x#1", "a", "pa", OutcomeClass.AUTH, 401)])
    got = samples(sink.render().decode())
    active = {lb["model"]: v for n, lb, v in got if n == "modelmesh_model_active"}
    assert active == {"a": 0.0, "b": 1.0}
    assert ("modelmesh_rotations_total", {"pool": "chat", "reason": "auth"}, 1.0) in got
    assert ("modelmesh_attempts_total",
            {"pool": "chat", "model": "a", "provider": "pa", "class": "auth"}, 1.0) in got
    sink.write(RoutingEvent("provider_recovered", TS, provider_id="pa",
                            metadata={"trigger": "probe_success"}).to_dict())
    active = {lb["model"]: v for n, lb, v in samples(sink.render().decode())
              if n == "modelmesh_model_active"}
    assert active == {"a": 1.0, "b": 1.0}


def test_port_starts_a_listener_in_library_mode_r96() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with FakeProviderServer() as srv:
        obs = {"connector": "modelmesh.prometheus.v1", "port": port}
        with create(config=config_for(srv, observability=obs), seed=1) as client:
            client.chat.completions.create(model="chat", messages=MSG)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
    assert 'modelmesh_requests_total{model="p0.m0",outcome="success",pool="chat"' in body


def test_two_clients_keep_separate_registries_r96() -> None:
    with FakeProviderServer() as srv:
        obs = {"connector": "modelmesh.prometheus.v1"}
        with create(config=config_for(srv, observability=obs), seed=1) as one, \
                create(config=config_for(srv, observability=obs), seed=2) as two:
            one.chat.completions.create(model="chat", messages=MSG)
            t1 = samples((metrics_text(one) or b"").decode())
            t2 = samples((metrics_text(two) or b"").decode())
    assert any(n == "modelmesh_requests_total" for n, _, _ in t1)
    assert not any(n == "modelmesh_requests_total" for n, _, _ in t2)


def test_no_prometheus_sink_means_no_metrics_r96() -> None:
    with FakeProviderServer() as srv, create(config=config_for(srv), seed=1) as client:
        assert metrics_text(client) is None
