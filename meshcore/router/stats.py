"""Statistics per scope: model, provider and pool aggregates (SPEC R-93).

Theory of operation: statistics are derived from the router's own output.
The router hands every record it emits to the book as it emits it
(`StatsBook.request()` and `StatsBook.event()`): every non-probe
`RequestLogEntry` counts one finished request for its pool and (when an
attempt was made) for the model and provider that ended it; the
`RoutingEvent`s count standby periods (`model_deactivated` /
`model_activated`, `provider_deactivated` / `provider_recovered`), quota
resets (`model_activated` with trigger `quota_reset`) and rotations
(`model_rotated`). Nothing here feeds back into a routing decision. The
scopes a request record counts in are looked up once per (pool, model,
provider) and kept until the next prune, which may delete scopes.

Counters live in time buckets (at most `BUCKETS` per scope, each
`retention / BUCKETS` seconds of monotonic time wide; a bucket is a list of
the `COUNTERS` values in that order), so a view sums only the buckets
within `retention`: older statistics are dropped, to within one bucket
width. Latency percentiles use the last 1,000 successful samples that are
within retention (nearest-rank). Downtime of a standby period is booked
when it ends; a period still open counts up to `now` in every view.
Model and pool scopes count model standby; the provider scope counts
provider deactivation. The flush timer itself lives in the router; this
module only builds the `StatsFlush` record.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshcore.records import RequestLogEntry, RoutingEvent, StatsFlush

BUCKETS = 100
SAMPLES = 1000
DEFAULT_RETENTION = 7 * 86400.0
DEFAULT_FLUSH = 60.0
COUNTERS = (
    "requests_total",
    "requests_success",
    "requests_failed",
    "tokens_in",
    "tokens_out",
    "cost_total",
    "downtime_total",
    "standby_events",
    "quota_resets",
    "rotation_events",
)


COUNTER_INDEX = {name: i for i, name in enumerate(COUNTERS)}
REQUESTS_TOTAL = COUNTER_INDEX["requests_total"]
REQUESTS_SUCCESS = COUNTER_INDEX["requests_success"]
REQUESTS_FAILED = COUNTER_INDEX["requests_failed"]
TOKENS_IN = COUNTER_INDEX["tokens_in"]
TOKENS_OUT = COUNTER_INDEX["tokens_out"]
COST_TOTAL = COUNTER_INDEX["cost_total"]


@dataclass(slots=True)
class ScopeStats:
    """The mutable aggregate of one scope ID. A bucket row is a list of the
    `COUNTERS` values in that order (indexing a list is cheaper than a dict
    on the per-request path)."""

    buckets: dict[int, list[float]] = field(default_factory=dict)
    samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    last_updated_mono: float = 0.0
    last_updated: str = ""

    def add(self, bucket: int, key: str, value: float) -> None:
        row = self.buckets.get(bucket)
        if row is None:
            row = self.buckets[bucket] = [0.0] * len(COUNTERS)
        row[COUNTER_INDEX[key]] += value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (q in (0, 100])."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * len(values)))
    return float(values[min(rank, len(values)) - 1])


def sink_settings(sections: Mapping[str, Any]) -> tuple[float | None, float]:
    """(flush interval, retention) from the observability section: the
    shortest interval and the longest retention of the sinks that receive
    statistics; no such sink means no flush timer (interval None)."""
    sinks = sections.get("observability")
    intervals: list[float] = []
    retentions: list[float] = []
    if isinstance(sinks, list):
        for sink in sinks:
            if not isinstance(sink, dict) or "stats" not in sink.get("streams", ()):
                continue
            st = sink.get("statistics") or {}
            intervals.append(float(st.get("flush_interval", DEFAULT_FLUSH)))
            retentions.append(float(st.get("retention", DEFAULT_RETENTION)))
    interval = max(0.001, min(intervals)) if intervals else None
    return interval, (max(retentions) if retentions else DEFAULT_RETENTION)


class StatsBook:
    """All scopes' statistics; see module docstring."""

    def __init__(self, retention_s: float = DEFAULT_RETENTION) -> None:
        self.retention = max(1.0, float(retention_s))
        self.width = self.retention / BUCKETS
        self.scopes: dict[str, ScopeStats] = {}
        self.model_down: dict[str, float] = {}  # model id -> standby since (mono)
        self.provider_down: dict[str, float] = {}  # provider id -> deactivated since (mono)
        # (pool, model, provider) of a request record -> the ScopeStats of its
        # scope IDs; dropped whenever `prune()` runs (it may delete scopes)
        self.request_scopes: dict[tuple[str | None, str | None, str | None],
                                  tuple[ScopeStats, ...]] = {}

    # -- feeding ----------------------------------------------------------------
    def _bump(self, scope_ids: Iterable[str | None], key: str, value: float, mono: float,
              ts: str) -> None:
        bucket = int(mono // self.width)
        for sid in scope_ids:
            if sid is None:
                continue
            sc = self.scopes.get(sid)
            if sc is None:
                sc = self.scopes[sid] = ScopeStats()
            sc.add(bucket, key, value)
            sc.last_updated_mono = mono
            sc.last_updated = ts

    def _request_scopes(self, key: tuple[str | None, str | None, str | None]
                        ) -> tuple[ScopeStats, ...]:
        pool, mid, pid = key
        scopes = self.scopes
        out = []
        for sid in (f"pool.{pool}" if pool else None, f"model.{mid}" if mid else None,
                    f"provider.{pid}" if pid else None):
            if sid is not None:
                sc = scopes.get(sid)
                if sc is None:
                    sc = scopes[sid] = ScopeStats()
                out.append(sc)
        if len(self.request_scopes) > 4096:
            self.request_scopes.clear()
        found = self.request_scopes[key] = tuple(out)
        return found

    def request(self, rec: RequestLogEntry, mono: float) -> None:
        """One finished request (R-93 request counters)."""
        attempted = rec.attempts > 0  # no attempt: only the pool counts it
        key = (rec.pool, rec.model_id if attempted else None,
               rec.provider_id if attempted else None)
        found = self.request_scopes.get(key)
        if found is None:
            found = self._request_scopes(key)
        ts = rec.timestamp
        ok = rec.outcome == "success"
        outcome = REQUESTS_SUCCESS if ok else REQUESTS_FAILED
        bucket = int(mono // self.width)
        tokens_in = rec.tokens_in
        tokens_out = rec.tokens_out
        cost = rec.cost
        sample = (mono, float(rec.latency_ms))
        for sc in found:  # one pass per scope: this sits on every request's path
            row = sc.buckets.get(bucket)
            if row is None:
                row = sc.buckets[bucket] = [0.0] * len(COUNTERS)
            row[REQUESTS_TOTAL] += 1
            row[outcome] += 1
            row[TOKENS_IN] += tokens_in
            row[TOKENS_OUT] += tokens_out
            row[COST_TOTAL] += cost
            sc.last_updated_mono = mono
            sc.last_updated = ts
            if ok:
                sc.samples.append(sample)

    def event(self, ev: RoutingEvent, mono: float,
              pools_of: Mapping[str, Sequence[str]]) -> None:
        """One routing event (standby, quota reset and rotation counters)."""
        ts = ev.timestamp
        kind = ev.event_type
        mid = ev.model_id
        model_scopes: list[str | None] = []
        if mid is not None:
            model_scopes = [f"model.{mid}", *(f"pool.{p}" for p in pools_of.get(mid, ()))]
        if kind == "model_deactivated" and mid is not None:
            if mid not in self.model_down:
                self.model_down[mid] = mono
                self._bump(model_scopes, "standby_events", 1, mono, ts)
        elif kind == "model_activated" and mid is not None:
            since = self.model_down.pop(mid, None)
            if since is not None:
                self._bump(model_scopes, "downtime_total", mono - since, mono, ts)
            if ev.metadata.get("trigger") == "quota_reset":
                self._bump(model_scopes, "quota_resets", 1, mono, ts)
        elif kind == "model_rotated":
            pool = ev.pool_id
            to_model = ev.metadata.get("to_model")
            ids = [f"pool.{pool}" if pool else None,
                   f"model.{to_model}" if isinstance(to_model, str) else None]
            self._bump(ids, "rotation_events", 1, mono, ts)
        elif kind == "provider_deactivated" and ev.provider_id is not None:
            pid = ev.provider_id
            if pid not in self.provider_down:
                self.provider_down[pid] = mono
                self._bump([f"provider.{pid}"], "standby_events", 1, mono, ts)
        elif kind == "provider_recovered" and ev.provider_id is not None:
            since = self.provider_down.pop(ev.provider_id, None)
            if since is not None:
                self._bump([f"provider.{ev.provider_id}"], "downtime_total", mono - since,
                           mono, ts)

    # -- views ------------------------------------------------------------------
    def prune(self, mono: float) -> None:
        """Drop buckets, samples and whole scopes older than the retention."""
        oldest = int((mono - self.retention) // self.width)
        self.request_scopes.clear()  # it may hold scopes deleted below
        for sid in list(self.scopes):
            sc = self.scopes[sid]
            for b in [b for b in sc.buckets if b <= oldest]:
                del sc.buckets[b]
            while sc.samples and sc.samples[0][0] < mono - self.retention:
                sc.samples.popleft()
            if not sc.buckets and sc.last_updated_mono < mono - self.retention:
                del self.scopes[sid]

    def open_downtime(self, sid: str, mono: float,
                      members: Mapping[str, Sequence[str]]) -> float:
        """Seconds of standby periods still open, for one scope ID."""
        kind, _, key = sid.partition(".")
        if kind == "model":
            since = self.model_down.get(key)
            return 0.0 if since is None else mono - since
        if kind == "provider":
            since = self.provider_down.get(key)
            return 0.0 if since is None else mono - since
        return sum(mono - s for m, s in self.model_down.items() if m in members.get(key, ()))

    def view(self, mono: float, members: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
        """One aggregate dict per scope ID (R-93), sorted by scope ID."""
        self.prune(mono)
        out: dict[str, dict[str, Any]] = {}
        for sid in sorted(self.scopes):
            sc = self.scopes[sid]
            tot = dict.fromkeys(COUNTERS, 0.0)
            for row in sc.buckets.values():
                for k, v in zip(COUNTERS, row, strict=True):
                    tot[k] += v
            lat = sorted(v for _, v in sc.samples)
            total = int(tot["requests_total"])
            out[sid] = {
                "requests_total": total,
                "requests_success": int(tot["requests_success"]),
                "requests_failed": int(tot["requests_failed"]),
                "tokens_in": int(tot["tokens_in"]),
                "tokens_out": int(tot["tokens_out"]),
                "cost_total": tot["cost_total"],
                "latency_avg": sum(lat) / len(lat) if lat else 0.0,
                "latency_p50": percentile(lat, 50),
                "latency_p95": percentile(lat, 95),
                "latency_p99": percentile(lat, 99),
                "error_rate": tot["requests_failed"] / total if total else 0.0,
                "downtime_total": tot["downtime_total"] + self.open_downtime(sid, mono, members),
                "standby_events": int(tot["standby_events"]),
                "quota_resets": int(tot["quota_resets"]),
                "rotation_events": int(tot["rotation_events"]),
                "last_updated": sc.last_updated,
            }
        return out

    def flush(self, mono: float, timestamp: str,
              members: Mapping[str, Sequence[str]]) -> StatsFlush:
        """The `StatsFlush` record of every scope at `mono`."""
        return StatsFlush(timestamp, self.view(mono, members))


__all__ = ["COUNTERS", "ScopeStats", "StatsBook", "percentile", "sink_settings"]
