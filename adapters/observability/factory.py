"""Building a client's sinks from its configuration (SPEC R-89, R-90, R-95, R-96).

`build_observability(built)` turns the normalised `observability` section (a
list of sink dicts, `meshcore.config.observe`) into an `Observability`.
Objects that are not data never enter the normalised config, so callables
(`callback`) and sink `instance`s are looked up in the user's raw section,
walked in the same order as the normaliser walks it. Custom connector IDs
are instantiated from `connectors.classes` with the sink's parameters.
`${...}` references in sink parameters (webhook headers, URLs) are resolved
here. The redactor knows every resolved secret value: the providers' API keys
and the values of references in the configuration, so they are scrubbed from
every record (R-95). Without a section, `default` applies (R-90: nothing for
the library; the proxy passes a console sink).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from adapters.build import Built, _SecretOptions, resolve_string
from adapters.observability.base import SinkSettings
from adapters.observability.dispatch import BoundSink, Observability
from adapters.observability.prometheus import PrometheusSink
from adapters.observability.redact import Redactor, is_sensitive_key
from adapters.observability.sinks import (
    CallbackSink,
    ConsoleSink,
    FileSink,
    JsonLogSink,
    NullSink,
)
from adapters.observability.webhook import WebhookSink
from meshcore.config.membership import pool_members
from meshcore.config.observe import SHAPE_A, STREAMS, normalise_sink
from meshcore.errors import ConfigurationError

__all__ = ["build_observability", "default_console", "make_sink", "secret_values"]


QUIET_LEVELS = frozenset({"warning", "error", "critical"})
"""Log levels at which the default console shows traces only (see `default_console`)."""


def default_console(min_severity: str = "info") -> dict[str, Any]:
    """The proxy's default sink (R-90): console with the given trace level.

    At `debug` and `info` it prints every stream: one line per request, the
    routing events, statistics and traces. From `warning` up only the
    traces at or above that severity (a failed attempt is a warning trace,
    a deactivation an error trace): the per-request lines, events and statistics are
    informational, and a proxy started with `--log-level WARNING` or `ERROR`
    is expected to stay quiet while all is well. Unwanted streams are not
    even turned into records, so a quiet proxy does not pay for them."""
    from meshcore.config.common import Ctx

    ctx = Ctx()
    body: dict[str, Any] = {"connector": "modelmesh.console.v1",
                            "tracing": {"min_severity": min_severity}}
    if min_severity.lower() in QUIET_LEVELS:
        body["streams"] = ["traces"]
    sink = normalise_sink(ctx, body, "observability", STREAMS)
    assert sink is not None
    return sink


def _raw_bodies(raw: Any) -> Iterator[Mapping[str, Any]]:
    """The raw sink maps in the normaliser's order."""
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                yield item
        return
    if not isinstance(raw, Mapping):
        return
    shape_a = any(isinstance(raw.get(k), Mapping) and "connector" in raw[k]
                  for k in SHAPE_A) and "connector" not in raw
    if not shape_a:
        yield raw
        return
    for key, value in raw.items():
        if key in SHAPE_A and isinstance(value, Mapping):
            yield value


def _raw_param(body: Mapping[str, Any], key: str) -> Any:
    if key in body:
        return body[key]
    cfg = body.get("config")
    return cfg.get(key) if isinstance(cfg, Mapping) else None


def _import(ref: str) -> Any:
    mod, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"observability: cannot import {ref!r}: {exc}") from exc


def _resolver(built: Built, env: Mapping[str, str]) -> Callable[[str], str]:
    res = getattr(built, "secrets", None)
    fn = getattr(res, "resolve_text", None)
    if callable(fn):
        return lambda text: str(fn(text))
    return lambda text: resolve_string(text, env, _SecretOptions(), [])


def secret_values(built: Built, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every resolved secret value the shell knows (R-95): the providers' API
    keys, and the resolved values of references that name the secret store
    (`${secrets:...}`) or sit under a sensitive key, `headers` or `api_keys`."""
    env = os.environ if environ is None else environ
    resolve = _resolver(built, env)
    values = [k for keys in built.api_keys.values() for k in keys if k]

    def walk(value: Any, sensitive: bool) -> None:
        if isinstance(value, str):
            if "${" in value and (sensitive or "${secrets:" in value):
                try:
                    values.append(resolve(value))
                except Exception:
                    return
            elif sensitive:
                values.append(value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                key = str(k)
                walk(v, sensitive or is_sensitive_key(key) or key in ("headers", "api_keys"))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, sensitive)

    walk({k: v for k, v in built.data.items() if k != "secrets"}, False)
    return [v for v in values if v]


def _resolve(value: Any, resolve: Callable[[str], str]) -> Any:
    if isinstance(value, str) and "${" in value:
        return resolve(value)
    if isinstance(value, Mapping):
        return {k: _resolve(v, resolve) for k, v in value.items()}
    return value


def make_sink(cid: str, params: Mapping[str, Any], raw: Mapping[str, Any] | None = None,
              classes: Mapping[str, Any] | None = None) -> Any:
    """One sink object from its connector ID and parameters."""
    p = dict(params)
    if cid == "modelmesh.null.v1":
        return NullSink()
    if cid == "modelmesh.console.v1":
        return ConsoleSink(p.get("stream", "stderr"), p.get("use_color"),
                           bool(p.get("show_timestamp", True)), str(p.get("prefix", "[ModelMesh]")))
    if cid == "modelmesh.file.v1":
        return FileSink(p.get("path", "modelmesh.log"), bool(p.get("append", True)),
                        bool(p.get("flush_each_line", True)),
                        int(p.get("max_file_size_bytes", 0) or 0), int(p.get("max_files", 5)))
    if cid == "modelmesh.json-log.v1":
        return JsonLogSink(p.get("path", "modelmesh-events.jsonl"), bool(p.get("append", True)))
    if cid == "modelmesh.callback.v1":
        cb = _raw_param(raw, "callback") if raw is not None else None
        if cb is None:
            cb = p.get("callback")
        if isinstance(cb, str):
            cb = _import(cb)
        if not callable(cb):
            raise ConfigurationError("modelmesh.callback.v1: `callback` must be callable")
        return CallbackSink(cb)
    if cid == "modelmesh.webhook.v1":
        return WebhookSink(str(p.get("url") or ""), str(p.get("method", "POST")),
                           p.get("headers") or {}, float(p.get("timeout", 10.0)),
                           int(p.get("retry_count", 3)), int(p.get("batch_size", 1)),
                           str(p.get("content_type", "application/json")))
    if cid == "modelmesh.prometheus.v1":
        port = p.get("port")
        return PrometheusSink(str(p.get("path", "/metrics")),
                              int(port) if port is not None else None)
    ref = (classes or {}).get(cid)
    if isinstance(ref, str):
        cls = _import(ref)
        return cls(**p)
    if isinstance(ref, type):
        return ref(**p)
    raise ConfigurationError(f"observability: no implementation for connector {cid!r}")


def build_observability(
    built: Built,
    *,
    default: Sequence[Mapping[str, Any]] | None = None,
    budget_source: Callable[[], Mapping[str, Any] | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Observability:
    """The `Observability` of a built configuration (see module docstring)."""
    env = os.environ if environ is None else environ
    sinks_cfg = list(built.config.sections.get("observability") or [])
    raw_bodies: list[Mapping[str, Any] | None] = list(_raw_bodies(
        built.data.get("observability")))
    if not sinks_cfg:
        sinks_cfg = [dict(s) for s in (default or ())]
        raw_bodies = []
    conn = built.data.get("connectors")
    classes = conn.get("classes") if isinstance(conn, Mapping) else None
    resolve = _resolver(built, env)
    base = Redactor(secret_values(built, env))
    model_provider = {mid: m.provider for mid, m in built.config.models.items()}
    pools_of: dict[str, list[str]] = {}
    for name, pool in built.config.pools.items():
        for mid in pool_members(built.config, pool):
            pools_of.setdefault(mid, []).append(name)
    bound: list[BoundSink] = []
    for i, cfg in enumerate(sinks_cfg):
        raw = raw_bodies[i] if i < len(raw_bodies) else None
        cid = cfg.get("connector")
        params = cfg.get("config") or {}
        params = _resolve(params, resolve)
        instance = raw.get("instance") if raw is not None else None
        if instance is not None:
            sink = instance
        elif isinstance(cid, str):
            sink = make_sink(cid, params, raw, classes if isinstance(classes, Mapping) else None)
        else:
            continue
        settings = SinkSettings.from_config(cfg)
        bind = getattr(sink, "bind", None)
        if isinstance(sink, PrometheusSink) and callable(bind):
            bind(model_provider, pools_of, budget_source)
        name = f"{cid or type(sink).__name__}#{i}"
        bound.append(BoundSink(name, sink, settings,
                               base.with_key_redaction(settings.redact_secrets)))
    return Observability(bound)
