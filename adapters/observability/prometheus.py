"""`modelmesh.prometheus.v1`: metrics in the Prometheus text format (SPEC R-96, R-97).

Each sink owns its own `CollectorRegistry` (two clients in one process never
clash) holding exactly the metrics of R-97. Request logs feed the request,
token, cost, latency and time-to-first-token series; the attempt histories of
finished requests feed `modelmesh_attempts_total`; routing events drive the
`modelmesh_model_active` gauge (a model counts as active while neither it nor
its provider is deactivated) and the deactivation and rotation counters;
`modelmesh_budget_spent_usd` is read from the client's budget status at each
render. `render()` returns the exposition text; the proxy serves it on
`/metrics` through `metrics_text()`. In library mode a `port` starts
prometheus-client's own listener thread (the only other thread a sync client
may start, R-107).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from adapters.observability.base import Sink

__all__ = ["BUCKETS", "CONTENT_TYPE", "PrometheusSink"]

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PMP = ("pool", "model", "provider")

BudgetSource = Callable[[], Mapping[str, Any] | None]


class PrometheusSink(Sink):
    """The R-97 metrics; see module docstring."""

    inline = True

    def __init__(self, path: str = "/metrics", port: int | None = None,
                 host: str = "127.0.0.1") -> None:
        self.path = path
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("modelmesh_requests_total", "Finished requests",
                                [*PMP, "outcome"], registry=r)
        self.attempts_c = Counter("modelmesh_attempts_total", "Attempts by outcome class",
                                  [*PMP, "class"], registry=r)
        self.tokens = Counter("modelmesh_tokens_total", "Tokens", [*PMP, "direction"],
                              registry=r)
        self.cost = Counter("modelmesh_cost_usd_total", "Cost in USD", list(PMP), registry=r)
        self.latency = Histogram("modelmesh_request_latency_seconds", "Request latency",
                                 list(PMP), buckets=BUCKETS, registry=r)
        self.ttft = Histogram("modelmesh_time_to_first_token_seconds", "Time to first token",
                              list(PMP), buckets=BUCKETS, registry=r)
        self.active = Gauge("modelmesh_model_active", "1 = the model is active", list(PMP),
                            registry=r)
        self.deactivations = Counter("modelmesh_deactivations_total", "Model deactivations",
                                     ["pool", "model", "reason"], registry=r)
        self.rotations = Counter("modelmesh_rotations_total", "Rotations", ["pool", "reason"],
                                 registry=r)
        self.budget = Gauge("modelmesh_budget_spent_usd", "Budget spent in USD",
                            ["provider", "period"], registry=r)
        self.model_provider: dict[str, str] = {}
        self.pools_of: dict[str, list[str]] = {}
        self.model_up: dict[str, bool] = {}
        self.provider_down: set[str] = set()
        self.budget_source: BudgetSource | None = None
        self._server: Any = None
        if port is not None:
            self._server, _ = start_http_server(int(port), addr=host, registry=self.registry)

    # ------------------------------------------------------------ wiring
    def bind(self, model_provider: Mapping[str, str], pools_of: Mapping[str, Sequence[str]],
             budget_source: BudgetSource | None = None) -> None:
        """The configuration's topology and the client's budget view."""
        self.model_provider = dict(model_provider)
        self.pools_of = {m: list(p) for m, p in pools_of.items()}
        self.budget_source = budget_source

    def _set_active(self, model: str) -> None:
        prov = self.model_provider.get(model, "")
        up = self.model_up.get(model, True) and prov not in self.provider_down
        for pool in self.pools_of.get(model, ()):
            self.active.labels(pool, model, prov).set(1 if up else 0)

    # ------------------------------------------------------------ records
    def write(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "log" and not record.get("probe"):
            self._log(record)
        elif kind == "event":
            self._event(record)

    def _log(self, rec: Mapping[str, Any]) -> None:
        pool = str(rec.get("pool") or "")
        model = str(rec.get("model_id") or "")
        prov = str(rec.get("provider_id") or "")
        self.requests.labels(pool, model, prov, str(rec.get("outcome"))).inc()
        self.tokens.labels(pool, model, prov, "in").inc(float(rec.get("tokens_in") or 0))
        self.tokens.labels(pool, model, prov, "out").inc(float(rec.get("tokens_out") or 0))
        self.cost.labels(pool, model, prov).inc(max(0.0, float(rec.get("cost") or 0.0)))
        if rec.get("outcome") == "success":
            self.latency.labels(pool, model, prov).observe(float(rec.get("latency_ms") or 0)
                                                           / 1000.0)
            if rec.get("ttft_ms") is not None:
                self.ttft.labels(pool, model, prov).observe(float(rec["ttft_ms"]) / 1000.0)

    def _event(self, ev: Mapping[str, Any]) -> None:
        kind = ev.get("event_type")
        meta = ev.get("metadata") or {}
        model = ev.get("model_id")
        if ev.get("provider_id") and model:
            self.model_provider.setdefault(str(model), str(ev["provider_id"]))
        if kind == "pool_membership_changed":
            pool = str(ev.get("pool_id") or "")
            for m in meta.get("added") or ():
                pools = self.pools_of.setdefault(str(m), [])
                if pool not in pools:
                    pools.append(pool)
                self._set_active(str(m))
            for m in meta.get("removed") or ():
                pools = self.pools_of.get(str(m), [])
                if pool in pools:
                    pools.remove(pool)
                    with contextlib.suppress(KeyError):
                        self.active.remove(pool, str(m), self.model_provider.get(str(m), ""))
        elif kind == "model_deactivated" and model:
            self.model_up[str(model)] = False
            for pool in self.pools_of.get(str(model), ()) or [str(ev.get("pool_id") or "")]:
                self.deactivations.labels(pool, str(model), str(meta.get("reason"))).inc()
            self._set_active(str(model))
        elif kind == "model_activated" and model:
            self.model_up[str(model)] = meta.get("status") == "active"
            self._set_active(str(model))
        elif kind == "model_rotated":
            self.rotations.labels(str(ev.get("pool_id") or ""), str(meta.get("reason"))).inc()
        elif kind in ("provider_deactivated", "provider_recovered") and ev.get("provider_id"):
            pid = str(ev["provider_id"])
            if kind == "provider_deactivated":
                self.provider_down.add(pid)
            else:
                self.provider_down.discard(pid)
            for m in [m for m, p in self.model_provider.items() if p == pid]:
                self._set_active(m)

    def attempts(self, pool: str | None, records: Iterable[Any]) -> None:
        """Count the attempts of one finished request (`AttemptRecord`s)."""
        for a in records:
            outcome = getattr(a.outcome, "value", a.outcome)
            self.attempts_c.labels(pool or "", a.model_id, a.provider_id, str(outcome)).inc()

    # ------------------------------------------------------------ output
    def render(self) -> bytes:
        """The exposition text of every metric."""
        source = self.budget_source
        if source is not None:
            try:
                status = source() or {}
            except Exception:
                status = {}
            for pid, windows in status.items():
                if not isinstance(windows, Mapping):
                    continue
                for window in windows.values():
                    if isinstance(window, Mapping) and "period" in window:
                        self.budget.labels(str(pid), str(window["period"])).set(
                            float(window.get("used") or 0.0))
        return generate_latest(self.registry)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
