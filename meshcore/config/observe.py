"""Shell-only sections `observability` and `discovery` (SPEC R-11, R-89,
R-96, R-101).

Theory of operation: observability accepts three shapes (R-11): shape A
(`routing`, `logging`, `statistics`, optionally `tracing`, each a sink with
its own `connector`), shape B (one `connector` plus `config`), or a list of
sink maps. All become a list of sink dicts, each naming the streams it
receives (`events`, `logs`, `stats`, `traces`; shape A routes events and,
without a `tracing` entry, traces to the `routing` sink), its connector
parameters with defaults (R-96) and the common parameters of R-89. No
section gives an empty list: the shell applies R-90. Discovery accepts
`sync`/`health` maps or a `connectors` list and normalises to one dict
with both halves filled in; `present` says whether the section existed
(discovery runs only then).
"""

from __future__ import annotations

from typing import Any

from meshcore.config.common import Ctx, Reader, check_str_list, flatten, join, type_name
from meshcore.config.ids import resolve_connector

STREAMS = ("events", "logs", "stats", "traces")
EVENT_NAMES = (
    "model_deactivated",
    "model_activated",
    "model_rotated",
    "provider_deactivated",
    "provider_recovered",
    "provider_health_changed",
    "pool_membership_changed",
    "discovery_models_updated",
    "pool_exhausted",
)
EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "rotation": ("model_rotated",),
    "deactivation": ("model_deactivated", "provider_deactivated"),
    "recovery": ("model_activated", "provider_recovered"),
    "health": ("provider_health_changed",),
    "membership": ("pool_membership_changed",),
    "discovery": ("discovery_models_updated",),
    "exhaustion": ("pool_exhausted",),
}
SEVERITIES = ("debug", "info", "warning", "error", "critical")
SCOPES = ("model", "provider", "pool")
COMMON_FLAT: dict[str, str] = {
    "filter": "events.filter",
    "include_metadata": "events.include_metadata",
    "level": "logging.level",
    "redact_secrets": "logging.redact_secrets",
    "max_payload_size": "logging.max_payload_size",
    "min_severity": "tracing.min_severity",
    "flush_interval": "statistics.flush_interval",
    "retention": "statistics.retention",
    "scopes": "statistics.scopes",
}
SHAPE_A: dict[str, tuple[str, ...]] = {
    "routing": ("events", "traces"),
    "logging": ("logs",),
    "statistics": ("stats",),
    "tracing": ("traces",),
}


def _canon(key: str) -> str:
    if key.startswith("config."):
        key = key[len("config."):]
    return COMMON_FLAT.get(key, key)


def _event_filter(ctx: Ctx, r: Reader) -> list[str] | None:
    src = r.pop("events.filter")
    if src is None:
        return None
    items = check_str_list(ctx, src, (), single_ok=True)
    chosen: set[str] = set()
    for i, name in enumerate(items):
        if name in EVENT_GROUPS:
            chosen.update(EVENT_GROUPS[name])
        elif name in EVENT_NAMES:
            chosen.add(name)
        else:
            ctx.error(f"{src.path}[{i}]", f"unknown event name or group {name!r}")
    return [e for e in EVENT_NAMES if e in chosen]


def _sink_params(ctx: Ctx, r: Reader, cid: str) -> dict[str, Any] | None:
    """Connector parameters of a pre-shipped sink (None for a custom one)."""
    if cid == "modelmesh.null.v1":
        return {}
    if cid == "modelmesh.console.v1":
        return {
            "stream": r.text("stream", "stderr", ("stderr", "stdout")),
            "use_color": r.opt_bool("use_color"),  # None = when a TTY
            "show_timestamp": r.flag("show_timestamp", True),
            "prefix": r.text("prefix", "[ModelMesh]"),
        }
    if cid == "modelmesh.file.v1":
        return {
            "path": r.text("path", "modelmesh.log"),
            "append": r.flag("append", True),
            "flush_each_line": r.flag("flush_each_line", True),
            "max_file_size_bytes": r.size("max_file_size_bytes", 0),
            "max_files": r.number("max_files", 5, lo=1, integer=True),
        }
    if cid == "modelmesh.json-log.v1":
        return {"path": r.text("path", "modelmesh-events.jsonl"), "append": r.flag("append", True)}
    if cid == "modelmesh.callback.v1":
        src = r.pop("callback")
        if src is None:
            ctx.error(join(r.base, "callback"), "required for modelmesh.callback.v1")
            return {"callback": None}
        if isinstance(src.value, str):
            return {"callback": src.value}
        if not callable(src.value):
            ctx.error(src.path, "must be a callable or a 'module:function' string")
        return {"callback": None, "has_callback": callable(src.value)}
    if cid == "modelmesh.webhook.v1":
        if not r.has("url"):
            ctx.error(join(r.base, "url"), "required for modelmesh.webhook.v1")
        headers = r.mapping("headers")
        return {
            "url": r.url("url", None),
            "method": r.text("method", "POST", ("POST", "PUT")),
            "headers": headers or {},
            "timeout": r.duration("timeout", 10.0),
            "retry_count": r.number("retry_count", 3, lo=0, integer=True),
            "batch_size": r.number("batch_size", 1, lo=1, integer=True),
            "content_type": r.text("content_type", "application/json"),
        }
    if cid == "modelmesh.prometheus.v1":
        return {
            "path": r.text("path", "/metrics"),
            "port": r.number("port", None, lo=0, hi=65535, integer=True),
        }
    return None


def normalise_sink(
    ctx: Ctx, body: dict[str, Any], path: str, streams: tuple[str, ...]
) -> dict[str, Any] | None:
    """One sink map -> normalised sink dict."""
    groups = ("config", "events", "logging", "tracing", "statistics")
    r = Reader(ctx, flatten(ctx, body, path, groups, _canon), path)
    has_instance = r.pop("instance") is not None
    src = r.pop("connector")
    cid: str | None = None
    if src is not None:
        cid = resolve_connector(ctx, src.value, src.path, "observability", ctx.custom_ids)
    elif not has_instance:
        ctx.error(join(path, "connector"), "required: the sink's connector ID")
    stream_src = r.pop("streams")
    if stream_src is not None:
        chosen = check_str_list(ctx, stream_src, streams, single_ok=True)
        bad = [s for s in chosen if s not in STREAMS]
        if bad:
            ctx.error(stream_src.path, f"unknown stream(s) {', '.join(bad)}; "
                                       f"allowed: {', '.join(STREAMS)}")
        streams = tuple(s for s in chosen if s in STREAMS)
    sink: dict[str, Any] = {
        "connector": cid,
        "streams": list(streams),
        "events": {
            "filter": _event_filter(ctx, r),
            "include_metadata": r.flag("events.include_metadata", True),
        },
        "logging": {
            "level": r.text("logging.level", "metadata", ("metadata", "summary", "full")),
            "redact_secrets": r.flag("logging.redact_secrets", True),
            "max_payload_size": r.size("logging.max_payload_size", 65536),
        },
        "tracing": {"min_severity": r.text("tracing.min_severity", "info", SEVERITIES)},
        "statistics": {
            "flush_interval": r.duration("statistics.flush_interval", 60.0),
            "retention": r.duration("statistics.retention", 7 * 86400.0),
            "scopes": list(r.str_list("statistics.scopes", SCOPES)),
        },
        "has_instance": has_instance,
    }
    bad_scopes = [s for s in sink["statistics"]["scopes"] if s not in SCOPES]
    if bad_scopes:
        ctx.error(join(path, "statistics.scopes"), f"unknown scope(s) {', '.join(bad_scopes)}")
    params = _sink_params(ctx, r, cid) if cid is not None else None
    if params is None:
        params = {k: s.value for k, s in r.leftovers().items()}
    else:
        r.warn_unknown()
    sink["config"] = params
    return sink if cid is not None or has_instance else None


def normalise_observability(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    """`observability` in any of the three shapes -> list of sinks."""
    if raw is None:
        return []
    sinks: list[dict[str, Any]] = []
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            where = f"observability[{i}]"
            if not isinstance(item, dict):
                ctx.error(where, f"wrong type: expected a sink mapping, got {type_name(item)}")
                continue
            sink = normalise_sink(ctx, item, where, STREAMS)
            if sink is not None:
                sinks.append(sink)
        return sinks
    if not isinstance(raw, dict):
        ctx.error("observability", f"wrong type: expected a mapping or a list, "
                                   f"got {type_name(raw)}")
        return sinks
    shape_a = any(
        isinstance(raw.get(k), dict) and "connector" in raw[k] for k in SHAPE_A
    ) and "connector" not in raw
    if not shape_a:
        sink = normalise_sink(ctx, raw, "observability", STREAMS)
        return [sink] if sink is not None else []
    has_tracing = isinstance(raw.get("tracing"), dict)
    for key, value in raw.items():
        where = f"observability.{key}"
        if key not in SHAPE_A:
            ctx.warn(where, "unknown key (ignored)")
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            ctx.error(where, f"wrong type: expected a sink mapping, got {type_name(value)}")
            continue
        streams = SHAPE_A[key]
        if key == "routing" and has_tracing:
            streams = ("events",)
        flat_map = {
            "routing": ("filter", "include_metadata"),
            "logging": ("level", "redact_secrets", "max_payload_size"),
            "statistics": ("flush_interval", "retention", "scopes"),
            "tracing": ("min_severity",),
        }
        body = dict(value)
        for flat in flat_map[key]:
            if flat in body:
                body[COMMON_FLAT[flat]] = body.pop(flat)
        sink = normalise_sink(ctx, body, where, streams)
        if sink is not None:
            sinks.append(sink)
    return sinks


def _providers(ctx: Ctx, r: Reader, key: str, known: set[str]) -> list[str] | None:
    src = r.pop(key)
    if src is None:
        return None
    items = check_str_list(ctx, src, (), single_ok=True)
    for i, pid in enumerate(items):
        if pid not in known:
            ctx.error(f"{src.path}[{i}]", f"undefined provider {pid!r}")
    return list(items)


def _sync(ctx: Ctx, r: Reader, known: set[str], enabled: bool) -> dict[str, Any]:
    return {
        "connector": "modelmesh.registry-sync.v1",
        "enabled": r.flag("sync.enabled", enabled),
        "interval": r.duration("sync.interval", 3600.0),
        "auto_register": r.flag("sync.auto_register", True),
        "providers": _providers(ctx, r, "sync.providers", known),
        "on_new_model": r.text("sync.on_new_model", "register", ("register", "notify", "ignore")),
        "on_deprecated_model": r.text("sync.on_deprecated_model", "notify",
                                     ("deactivate", "notify", "ignore")),
    }


def _health(ctx: Ctx, r: Reader, known: set[str], enabled: bool) -> dict[str, Any]:
    return {
        "connector": "modelmesh.health-monitor.v1",
        "enabled": r.flag("health.enabled", enabled),
        "interval": r.duration("health.interval", 60.0),
        "timeout": r.duration("health.timeout", 10.0),
        "failure_threshold": r.number("health.failure_threshold", 3, lo=1, integer=True),
        "providers": _providers(ctx, r, "health.providers", known),
    }


def normalise_discovery(ctx: Ctx, raw: Any, known_providers: set[str]) -> dict[str, Any]:
    """`discovery` (R-11, R-101)."""
    present = raw is not None
    body: dict[str, Any] = {}
    if raw is not None and not isinstance(raw, dict):
        ctx.error("discovery", f"wrong type: expected a mapping, got {type_name(raw)}")
    elif isinstance(raw, dict):
        body = dict(raw)
    enabled = {"sync": present, "health": present}
    conns = body.pop("connectors", None)
    if conns is not None:
        enabled = {"sync": False, "health": False}
        if not isinstance(conns, list):
            ctx.error("discovery.connectors", f"wrong type: expected a list, "
                                              f"got {type_name(conns)}")
            conns = []
        for i, item in enumerate(conns):
            where = f"discovery.connectors[{i}]"
            if not isinstance(item, dict):
                ctx.error(where, f"wrong type: expected a mapping, got {type_name(item)}")
                continue
            item = dict(item)
            cid_raw = item.pop("connector", None)
            cid = resolve_connector(ctx, cid_raw, join(where, "connector"), "discovery",
                                    ctx.custom_ids)
            half = "health" if cid == "modelmesh.health-monitor.v1" else "sync"
            if cid is not None and cid not in ("modelmesh.health-monitor.v1",
                                               "modelmesh.registry-sync.v1"):
                half = "health" if "health" in item else "sync"
            enabled[half] = cid is not None
            for key, value in item.items():
                if key in ("sync", "health") and isinstance(value, dict):
                    if key in body:
                        ctx.error(join(where, key), f"discovery.{key} is given twice")
                        continue
                    body[key] = value
                else:
                    ctx.warn(join(where, str(key)), "unknown key (ignored)")
    r = Reader(ctx, flatten(ctx, body, "discovery", ("sync", "health")), "discovery")
    out = {
        "present": present,
        "sync": _sync(ctx, r, known_providers, enabled["sync"]),
        "health": _health(ctx, r, known_providers, enabled["health"]),
    }
    r.warn_unknown()
    return out


__all__ = [
    "EVENT_GROUPS",
    "EVENT_NAMES",
    "STREAMS",
    "normalise_discovery",
    "normalise_observability",
    "normalise_sink",
]
