"""Shell-only sections: `secrets`, `storage`, `connectors`, `capabilities`
and `proxy` (SPEC R-17, R-78, R-79, R-82, R-84, R-111).

Theory of operation: the router never reads these sections; the shell
does. They are still validated here with key paths and normalised into
plain JSON-able dicts with every default filled in (durations in seconds,
sizes in bytes), stored in `MeshConfig.sections[<name>]`. Programmatic
`instance` objects are never copied into the config (they are not data);
`has_instance` records that one was given.
"""

from __future__ import annotations

from typing import Any

from meshcore.capabilities import is_valid_path
from meshcore.config.common import Ctx, Reader, check_str_list, flatten, type_name
from meshcore.config.ids import CLASS_REF_RE, has_upper, resolve_connector

SECRET_RESOLUTION = ("cache_enabled", "cache_ttl", "reload_on_rotation", "fail_on_missing")

# Store parameters: key -> (kind, default); "required" marks required ones.
SECRET_STORE_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "modelmesh.env.v1": {"prefix": ("str", "")},
    "modelmesh.dotenv.v1": {"path": ("str", "./.env"), "override": ("bool", False)},
    "modelmesh.json-secrets.v1": {"file_path": ("required", None), "json_path": ("str", "")},
    "modelmesh.memory-secrets.v1": {"secrets": ("map", {})},
    "modelmesh.encrypted-file.v1": {
        "file_path": ("required", None),
        "passphrase": ("str", None),
        "encryption_key": ("hexkey", None),
        "pbkdf2_iterations": ("int1", 600000),
    },
    "modelmesh.keyring.v1": {"service_name": ("str", "modelmesh")},
}
STORAGE_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "modelmesh.memory.v1": {},
    "modelmesh.local-file.v1": {"path": ("str", "./mesh-state.json"), "backup": ("bool", False)},
    "modelmesh.sqlite.v1": {"path": ("str", "./mesh-state.db"), "table": ("str", "modelmesh_state")},
}
SYNC_POLICIES = ("in-memory", "sync-on-boundary", "periodic", "immediate")
PROXY_ENDPOINTS = (
    "/v1/models",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/health",
    "/metrics",
    "/v1/modelmesh/pools",
    "/v1/modelmesh/pools/{pool}/explain",
    "/v1/modelmesh/pools/{pool}/rotate",
    "/v1/modelmesh/models/{id}/activate",
    "/v1/modelmesh/models/{id}/deactivate",
    "/v1/modelmesh/providers/{id}/activate",
    "/v1/modelmesh/providers/{id}/deactivate",
    "/v1/modelmesh/usage",
)


def read_params(r: Reader, table: dict[str, tuple[str, Any]], what: str) -> dict[str, Any]:
    """Read connector parameters of a small kind table; fill defaults."""
    out: dict[str, Any] = {}
    for key, (kind, default) in table.items():
        if kind == "required":
            if not r.has(key):
                r.pop(key)
                r.ctx.error(r.path(key), f"required for {what}")
                continue
            value = r.text(key, None)
        elif kind == "str":
            value = r.text(key, default)
        elif kind == "bool":
            value = r.flag(key, default)
        elif kind == "int1":
            value = r.number(key, default, lo=1, integer=True)
        elif kind == "int0":
            value = r.number(key, default, lo=0, integer=True)
        elif kind == "duration":
            value = r.duration(key, default)
        elif kind == "size":
            value = r.size(key, default)
        elif kind == "url":
            if not r.has(key) and default == "required":
                r.pop(key)
                r.ctx.error(r.path(key), f"required for {what}")
                continue
            value = r.url(key, None)
        elif kind == "map":
            m = r.mapping(key)
            value = dict(default) if m is None else m
        elif kind == "hexkey":
            value = r.text(key, None)
            if isinstance(value, str) and "${" not in value and not _is_hex64(value):
                r.ctx.error(r.path(key), "must be 64 hexadecimal characters")
        else:  # pragma: no cover - table typo
            raise AssertionError(kind)
        if value is not None:
            out[key] = value
    return out


def _is_hex64(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _section_map(ctx: Ctx, raw: Any, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        ctx.error(path, f"wrong type: expected a mapping, got {type_name(raw)}")
        return None
    return raw


def _custom_params(r: Reader, out: dict[str, Any], custom: bool) -> None:
    if custom:
        for key, src in r.leftovers().items():
            out[key] = src.value
    else:
        r.warn_unknown()


def normalise_secrets(ctx: Ctx, raw: Any) -> dict[str, Any]:
    """`secrets` (R-11, R-78, R-79)."""
    body = _section_map(ctx, raw, "secrets") or {}

    def canon(key: str) -> str:
        if key.startswith("config."):
            key = key[len("config."):]
        if key == "store":
            return "connector"
        if key in SECRET_RESOLUTION:
            return f"resolution.{key}"
        return key

    r = Reader(ctx, flatten(ctx, body, "secrets", ("config", "resolution"), canon), "secrets")
    src = r.pop("connector")
    connector = "modelmesh.env.v1"
    if src is not None:
        connector = resolve_connector(ctx, src.value, src.path, "secret store",
                                      ctx.custom_ids) or connector
    has_instance = r.pop("instance") is not None
    resolution = {
        "cache_enabled": r.flag("resolution.cache_enabled", True),
        "cache_ttl": r.duration("resolution.cache_ttl", 300.0),
        "reload_on_rotation": r.flag("resolution.reload_on_rotation", True),
        "fail_on_missing": r.flag("resolution.fail_on_missing", True),
    }
    table = SECRET_STORE_PARAMS.get(connector)
    params = read_params(r, table, connector) if table is not None and not has_instance else {}
    _custom_params(r, params, table is None or has_instance)
    return {"connector": connector, "config": params, "resolution": resolution,
            "has_instance": has_instance}


def normalise_storage(ctx: Ctx, raw: Any) -> dict[str, Any]:
    """`storage` (R-82, R-84)."""
    present = raw is not None
    body = _section_map(ctx, raw, "storage") or {}

    def canon(key: str) -> str:
        if key.startswith("config."):
            key = key[len("config."):]
        if key in ("sync_policy", "sync_interval"):
            return f"persistence.{key}"
        return key

    groups = ("config", "persistence", "locking")
    r = Reader(ctx, flatten(ctx, body, "storage", groups, canon), "storage")
    src = r.pop("connector")
    connector = "modelmesh.local-file.v1" if present else "modelmesh.memory.v1"
    if src is not None:
        cid = resolve_connector(ctx, src.value, src.path, "storage", ctx.custom_ids)
        if cid == "redis.redis.v1":
            ctx.error(src.path, "connector not available: redis.redis.v1 is reserved for a "
                                "later release")
        elif cid is not None:
            connector = cid
    has_instance = r.pop("instance") is not None
    default_policy = "in-memory" if connector == "modelmesh.memory.v1" else "sync-on-boundary"
    policy = r.text("persistence.sync_policy", default_policy, SYNC_POLICIES)
    persistence = {
        "sync_policy": policy,
        "sync_interval": r.duration("persistence.sync_interval", 300.0),
        "format": r.text("persistence.format", "json", ("json", "yaml", "msgpack")),
        "compression": r.flag("persistence.compression", False),
        "encryption": r.flag("persistence.encryption", False),
        "encryption_secret": r.text("persistence.encryption_secret", "MODELMESH_STORAGE_KEY"),
    }
    locking = {
        "enabled": r.flag("locking.enabled", policy in ("periodic", "immediate")),
        "timeout": r.duration("locking.timeout", 30.0),
        "retry_interval": r.duration("locking.retry_interval", 1.0),
    }
    table = STORAGE_PARAMS.get(connector)
    params = read_params(r, table, connector) if table is not None and not has_instance else {}
    _custom_params(r, params, table is None or has_instance)
    return {"connector": connector, "config": params, "persistence": persistence,
            "locking": locking, "has_instance": has_instance, "present": present}


def normalise_connectors(ctx: Ctx, raw: Any) -> dict[str, Any]:
    """`connectors` (R-17); `packages` is an error (§16)."""
    body = _section_map(ctx, raw, "connectors") or {}
    r = Reader(ctx, flatten(ctx, body, "connectors", ()), "connectors")
    if r.flat.get("packages") is not None:
        ctx.error(r.path("packages"), "connector packages are not supported; "
                                      "use Python entry points (modelmesh.connectors)")
    r.pop("packages")
    classes: dict[str, str] = {}
    m = r.mapping("classes")
    for cid, ref in (m or {}).items():
        where = f"connectors.classes.{cid}"
        if not isinstance(ref, str) or not CLASS_REF_RE.match(ref):
            ctx.error(where, "must be a 'module:Class' string")
            continue
        if has_upper(cid):
            ctx.error(where, f"IDs must be lowercase (R-1): {cid!r}")
            continue
        classes[cid] = ref
    out = {"entry_points": r.flag("entry_points", True), "classes": classes}
    r.warn_unknown()
    return out


def custom_connector_ids(raw: Any) -> tuple[str, ...]:
    """IDs registered in `connectors.classes` (valid before import)."""
    if isinstance(raw, dict) and isinstance(raw.get("classes"), dict):
        return tuple(str(k) for k in raw["classes"])
    return ()


def normalise_capabilities(ctx: Ctx, raw: Any) -> tuple[str, ...]:
    """`capabilities.custom` (R-17): valid dotted paths, de-duplicated."""
    body = _section_map(ctx, raw, "capabilities") or {}
    r = Reader(ctx, flatten(ctx, body, "capabilities", ()), "capabilities")
    src = r.pop("custom")
    out: list[str] = []
    if src is not None:
        items = check_str_list(ctx, src, ())
        for i, path in enumerate(items):
            if has_upper(path):
                ctx.error(f"{src.path}[{i}]", f"IDs must be lowercase (R-1): {path!r}")
            elif not is_valid_path(path):
                ctx.error(f"{src.path}[{i}]", f"invalid capability path {path!r} "
                                              "(dotted segments of [a-z0-9-])")
            elif path not in out:
                out.append(path)
    r.warn_unknown()
    return tuple(out)


def normalise_proxy(ctx: Ctx, raw: Any) -> dict[str, Any]:
    """`proxy` (R-111)."""
    body = _section_map(ctx, raw, "proxy") or {}
    r = Reader(ctx, flatten(ctx, body, "proxy", ("auth", "cors")), "proxy")
    endpoints_src = r.pop("endpoints")
    endpoints = list(PROXY_ENDPOINTS)
    if endpoints_src is not None:
        items = check_str_list(ctx, endpoints_src, None)
        if items is not None:
            bad = [e for e in items if e not in PROXY_ENDPOINTS]
            if bad:
                ctx.error(endpoints_src.path, f"unknown endpoint path(s): {', '.join(bad)}")
            endpoints = [e for e in items if e in PROXY_ENDPOINTS]
    tokens = list(r.str_list("auth.tokens", (), single_ok=True))
    out = {
        "host": r.text("host", "127.0.0.1"),
        "port": r.number("port", 8080, lo=0, hi=65535, integer=True),
        "endpoints": endpoints,
        "auth": {
            "enabled": r.flag("auth.enabled", bool(tokens)),
            "method": r.text("auth.method", "bearer", ("bearer",)),
            "tokens": tokens,
        },
        "cors": {
            "enabled": r.flag("cors.enabled", True),
            "origins": list(r.str_list("cors.origins", ("*",), single_ok=True)),
        },
        "max_body_size": r.size("max_body_size", 10 * 1024 * 1024),
        "shutdown_timeout": r.duration("shutdown_timeout", 30.0),
    }
    r.warn_unknown()
    return out


__all__ = [
    "custom_connector_ids",
    "normalise_capabilities",
    "normalise_connectors",
    "normalise_proxy",
    "normalise_secrets",
    "normalise_storage",
    "read_params",
]
