"""Statistics per scope: model, provider and pool aggregates (SPEC R-93).

Theory of operation: statistics are derived from what the router reports.
Every finished (non-probe) request is counted with `StatsBook.count()`
(`request()` takes the same facts from a `RequestLogEntry`), whether or not
a sink takes the request log, for its pool and (when an attempt was made)
for the model and provider that ended it; the `RoutingEvent`s, handed over
with `StatsBook.event()` as they are emitted, count standby periods (`model_deactivated` /
`model_activated`, `provider_deactivated` / `provider_recovered`), quota
resets (`model_activated` with trigger `quota_reset`) and rotations
(`model_rotated`). Nothing here feeds back into a routing decision.

A finished request is booked once, on the `KeyStats` of its (pool, model,
provider), not on each of the up to three scopes it counts in: this sits
on every request's path. Views add each key's counters to the scopes the
key names, and merge the keys' latency samples back into arrival order by
their sequence numbers. Routing-event counters are booked on `ScopeStats`
per scope ID directly (they are rare).

Counters live in time buckets (at most `BUCKETS` per scope or key, each
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

import heapq
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
    """Counters booked straight on one scope ID (the routing-event counters).
    A bucket row is a list of the `COUNTERS` values in that order (indexing a
    list is cheaper than a dict on the per-request path)."""

    buckets: dict[int, list[float]] = field(default_factory=dict)
    last_updated_mono: float = 0.0
    last_updated: str = ""

    def add(self, bucket: int, key: str, value: float) -> None:
        row = self.buckets.get(bucket)
        if row is None:
            row = self.buckets[bucket] = [0.0] * len(COUNTERS)
        row[COUNTER_INDEX[key]] += value


@dataclass(slots=True)
class KeyStats:
    """The request counters of one (pool, model, provider): one row per
    request however many scopes it counts in; `scope_ids` names them.
    Latency samples are `(mono, sequence number, ms)`, so the samples of
    several keys merge back into their order of arrival."""

    scope_ids: tuple[str, ...]
    buckets: dict[int, list[float]] = field(default_factory=dict)
    samples: deque[tuple[float, int, float]] = field(
        default_factory=lambda: deque(maxlen=SAMPLES))
    last_updated_mono: float = 0.0
    last_updated: str = ""


def _expire(part: ScopeStats | KeyStats, oldest: int, stale: float) -> bool:
    """Drop the buckets up to `oldest`; True when nothing recent is left."""
    for b in [b for b in part.buckets if b <= oldest]:
        del part.buckets[b]
    return not part.buckets and part.last_updated_mono < stale


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


def logs_wanted(sections: Mapping[str, Any]) -> bool:
    """Whether a sink other than the null sink takes the request log (the
    `logs` stream). Without one the router builds no request-log records:
    nothing would read them (the statistics are booked either way)."""
    sinks = sections.get("observability")
    return isinstance(sinks, list) and any(
        isinstance(sink, dict) and sink.get("connector") != "modelmesh.null.v1"
        and "logs" in sink.get("streams", ()) for sink in sinks)


class StatsBook:
    """All scopes' statistics; see module docstring."""

    def __init__(self, retention_s: float = DEFAULT_RETENTION) -> None:
        self.retention = max(1.0, float(retention_s))
        self.width = self.retention / BUCKETS
        self.scopes: dict[str, ScopeStats] = {}  # routing-event counters per scope ID
        self.keys: dict[tuple[str | None, str | None, str | None], KeyStats] = {}
        self.seq = 0  # arrival order of latency samples across keys
        self.model_down: dict[str, float] = {}  # model id -> standby since (mono)
        self.provider_down: dict[str, float] = {}  # provider id -> deactivated since (mono)

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

    def request(self, rec: RequestLogEntry, mono: float) -> None:
        """One finished request, as its request-log record (R-93)."""
        self.count(rec.pool, rec.model_id, rec.provider_id, rec.attempts > 0,
                   rec.outcome == "success", rec.tokens_in, rec.tokens_out, rec.cost,
                   rec.latency_ms, rec.timestamp, mono)

    def count(self, pool: str | None, model_id: str | None, provider_id: str | None,
              attempted: bool, ok: bool, tokens_in: int, tokens_out: int, cost: float,
              latency_ms: float, ts: str, mono: float) -> None:
        """One finished request (R-93 request counters): counted for its pool
        and, when an attempt was made, the model and provider that ended it."""
        key = (pool, model_id, provider_id) if attempted else (pool, None, None)
        ks = self.keys.get(key)
        if ks is None:
            ks = self.keys[key] = KeyStats(tuple(
                sid for sid in (f"pool.{key[0]}" if key[0] else None,
                                f"model.{key[1]}" if key[1] else None,
                                f"provider.{key[2]}" if key[2] else None) if sid is not None))
        bucket = int(mono // self.width)
        row = ks.buckets.get(bucket)
        if row is None:
            row = ks.buckets[bucket] = [0.0] * len(COUNTERS)
        row[REQUESTS_TOTAL] += 1
        row[TOKENS_IN] += tokens_in
        row[TOKENS_OUT] += tokens_out
        row[COST_TOTAL] += cost
        ks.last_updated_mono = mono
        ks.last_updated = ts
        if ok:
            row[REQUESTS_SUCCESS] += 1
            self.seq += 1
            ks.samples.append((mono, self.seq, float(latency_ms)))
        else:
            row[REQUESTS_FAILED] += 1

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
        """Drop buckets, samples, scopes and keys older than the retention."""
        oldest = int((mono - self.retention) // self.width)
        stale = mono - self.retention
        for sid in list(self.scopes):
            if _expire(self.scopes[sid], oldest, stale):
                del self.scopes[sid]
        for key in list(self.keys):
            ks = self.keys[key]
            while ks.samples and ks.samples[0][0] < stale:
                ks.samples.popleft()
            if _expire(ks, oldest, stale):
                del self.keys[key]

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
        """One aggregate dict per scope ID (R-93), sorted by scope ID: the
        scope's own counters plus those of every key that counts in it."""
        self.prune(mono)
        parts: dict[str, list[ScopeStats | KeyStats]] = {
            sid: [sc] for sid, sc in self.scopes.items()}
        for ks in self.keys.values():
            for sid in ks.scope_ids:
                parts.setdefault(sid, []).append(ks)
        out: dict[str, dict[str, Any]] = {}
        for sid in sorted(parts):
            tot = [0.0] * len(COUNTERS)
            latest: ScopeStats | KeyStats = parts[sid][0]
            queues: list[deque[tuple[float, int, float]]] = []
            for part in parts[sid]:
                for row in part.buckets.values():
                    for i, v in enumerate(row):
                        tot[i] += v
                if part.last_updated_mono >= latest.last_updated_mono:
                    latest = part
                if isinstance(part, KeyStats):
                    queues.append(part.samples)
            # the scope's last SAMPLES successes, whichever keys they came in by
            merged = list(heapq.merge(*queues))[-SAMPLES:] if len(queues) > 1 else (
                list(queues[0]) if queues else [])
            lat = sorted(s[2] for s in merged)
            t = dict(zip(COUNTERS, tot, strict=True))
            total = int(t["requests_total"])
            out[sid] = {
                "requests_total": total,
                "requests_success": int(t["requests_success"]),
                "requests_failed": int(t["requests_failed"]),
                "tokens_in": int(t["tokens_in"]),
                "tokens_out": int(t["tokens_out"]),
                "cost_total": t["cost_total"],
                "latency_avg": sum(lat) / len(lat) if lat else 0.0,
                "latency_p50": percentile(lat, 50),
                "latency_p95": percentile(lat, 95),
                "latency_p99": percentile(lat, 99),
                "error_rate": t["requests_failed"] / total if total else 0.0,
                "downtime_total": t["downtime_total"] + self.open_downtime(sid, mono, members),
                "standby_events": int(t["standby_events"]),
                "quota_resets": int(t["quota_resets"]),
                "rotation_events": int(t["rotation_events"]),
                "last_updated": latest.last_updated,
            }
        return out

    def flush(self, mono: float, timestamp: str,
              members: Mapping[str, Sequence[str]]) -> StatsFlush:
        """The `StatsFlush` record of every scope at `mono`."""
        return StatsFlush(timestamp, self.view(mono, members))


__all__ = ["COUNTERS", "KeyStats", "ScopeStats", "StatsBook", "logs_wanted", "percentile",
           "sink_settings"]
