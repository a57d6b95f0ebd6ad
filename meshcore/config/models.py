"""The `models` section and the default catalogues (SPEC R-1, R-11, R-15, R-20, R-21).

Theory of operation: model entries come from the top-level `models`
section (a map keyed by ID or a list of maps with `id`) and from each
provider's nested `models` list, in configuration order (whichever of the
two sections comes first in the input). Every entry is flattened, its key
canonicalised (a bare key becomes `<provider prefix>.<slug>` and the key as
written its default `name`), and read into a `ModelConfig` with `source`
`config` and `order` = its position. Capabilities follow R-21: declared,
else the provider's `capabilities`, else the connector catalogue entry of
the same native name, else none (with a warning). Unset pricing, context
window, output limit and features are filled from a matching catalogue
entry. Finally each cloud provider without configured models receives its
connector's catalogue (source `catalogue`, R-20).
"""

from __future__ import annotations

import re
from typing import Any

from meshcore.capabilities import is_at_or_under
from meshcore.catalogue import CatalogueEntry, catalogue_entry, catalogue_for
from meshcore.config.common import (
    Ctx,
    Reader,
    Src,
    close_matches,
    flatten,
    join,
    resolve_leaf_list,
    type_name,
)
from meshcore.config.ids import canonical_model_id, has_upper, is_prefixed, model_slug
from meshcore.config.schema import ModelConfig, Pricing, ProviderConfig
from meshcore.connectors import PROVIDER_CONNECTORS

GROUPS = ("delivery", "batch", "features", "constraints", "pricing")
FLAT_ALIASES: dict[str, str] = {
    "context_window": "constraints.context_window",
    "max_output_tokens": "constraints.max_output_tokens",
}
FEATURES = (
    "tool_calling",
    "structured_output",
    "json_mode",
    "system_prompt",
    "vision",
    "grounding",
    "logprobs",
    "fine_tunable",
)
MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
LANG_RE = re.compile(r"^[a-z]{2}$")
STREAMING_NODES = (
    "generation.text-generation",
    "generation.audio-generation.text-to-speech",
)


def canon(key: str) -> str:
    """Canonical model key."""
    return FLAT_ALIASES.get(key, key)


def default_streaming(capabilities: tuple[str, ...]) -> bool:
    """R-15: streaming defaults to true for text-generation leaves and TTS."""
    return any(is_at_or_under(c, node) for c in capabilities for node in STREAMING_NODES)


class _Entry:
    __slots__ = ("body", "implied_provider", "key", "path")

    def __init__(self, key: str | None, body: dict[str, Any], path: str, implied: str | None):
        self.key = key
        self.body = body
        self.path = path
        self.implied_provider = implied


def _entries_from(ctx: Ctx, value: Any, path: str, implied: str | None) -> list[_Entry]:
    out: list[_Entry] = []
    if isinstance(value, dict):
        for key, body in value.items():
            where = join(path, str(key))
            if not isinstance(key, str):
                ctx.error(where, "wrong type: model keys must be strings")
                continue
            if body is None:
                body = {}
            if not isinstance(body, dict):
                ctx.error(where, f"wrong type: expected a mapping, got {type_name(body)}")
                continue
            out.append(_Entry(key, body, where, implied))
    elif isinstance(value, list | tuple):
        for i, body in enumerate(value):
            where = f"{path}[{i}]"
            if isinstance(body, str) and implied is not None:
                out.append(_Entry(body, {}, where, implied))
                continue
            if not isinstance(body, dict):
                ctx.error(where, f"wrong type: expected a mapping, got {type_name(body)}")
                continue
            key = body.get("id", body.get("name"))
            if not isinstance(key, str) or not key:
                ctx.error(where, "a model in a list needs an `id` (or `name`) string")
                continue
            body = {k: v for k, v in body.items() if k != "id"}
            out.append(_Entry(key, body, where, implied))
    else:
        ctx.error(path, f"wrong type: expected a mapping or a list, got {type_name(value)}")
    return out


def _pricing(r: Reader, entry: CatalogueEntry | None) -> Pricing | None:
    ctx = r.ctx
    values: dict[str, float] = {}
    given = False
    for base in ("input", "output"):
        k1m, k1k = f"pricing.{base}_per_1m", f"pricing.{base}_per_1k"
        p1m = r.path(k1m)
        v1m = r.number(k1m, None, lo=0.0)
        v1k = r.number(k1k, None, lo=0.0)
        if v1m is not None and v1k is not None:
            ctx.error(p1m, f"both {base}_per_1m and {base}_per_1k given; use one")
        if v1m is not None:
            values[base] = float(v1m)
            given = True
        elif v1k is not None:
            values[base] = float(v1k) * 1000.0
            given = True
    per_request = r.number("pricing.per_request", None, lo=0.0)
    if per_request is not None:
        given = True
    if not given:
        if entry is not None and entry.pricing is not None:
            return Pricing(*entry.pricing)
        return None
    return Pricing(values.get("input", 0.0), values.get("output", 0.0), float(per_request or 0.0))


def _batch(r: Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    readers: dict[str, Any] = {
        "max_items": lambda k: r.number(k, None, lo=1, integer=True),
        "max_payload": lambda k: r.text(k, None),
        "completion_window": lambda k: r.duration(k, None),
        "cost_discount": lambda k: r.number(k, None, lo=0.0, hi=1.0),
        "callback": lambda k: r.text(k, None),
        "polling": lambda k: r.opt_bool(k),
        "partial_results": lambda k: r.opt_bool(k),
    }
    for name, read in readers.items():
        value = read(f"batch.{name}")
        if value is not None:
            out[name] = value
    return out


def _languages(r: Reader) -> tuple[str, ...] | None:
    src = r.pop("constraints.supported_languages")
    if src is None:
        return None
    v = src.value
    if not isinstance(v, list | tuple):
        r.ctx.error(src.path, f"wrong type: expected a list of ISO 639-1 codes, got {type_name(v)}")
        return None
    out: list[str] = []
    for i, code in enumerate(v):
        if isinstance(code, str) and LANG_RE.match(code):
            out.append(code)
        else:
            r.ctx.error(f"{src.path}[{i}]", f"not an ISO 639-1 code: {code!r}")
    return tuple(out)


def normalise_models(
    ctx: Ctx,
    top: Any,
    nested: dict[str, Src],
    providers: dict[str, ProviderConfig],
    written_providers: set[str],
    nested_first: bool,
) -> dict[str, ModelConfig]:
    """Normalise every configured model, then add catalogue models."""
    top_entries = _entries_from(ctx, top, "models", None) if top is not None else []
    nested_entries: list[_Entry] = []
    for pid, src in nested.items():
        nested_entries.extend(_entries_from(ctx, src.value, src.path, pid))
    entries = nested_entries + top_entries if nested_first else top_entries + nested_entries
    models: dict[str, ModelConfig] = {}
    where_defined: dict[str, str] = {}
    referenced: set[str] = set()
    for entry in entries:
        cfg = _one_model(ctx, entry, providers, written_providers, referenced)
        if cfg is None:
            continue
        if cfg.id in models:
            ctx.error(entry.path, f"duplicate model ID {cfg.id!r} after canonicalisation "
                                  f"(also defined at {where_defined[cfg.id]})")
            continue
        models[cfg.id] = ModelConfig(**{**_fields(cfg), "order": len(models)})
        where_defined[cfg.id] = entry.path
    _add_catalogues(ctx, models, providers, referenced)
    return models


def _fields(cfg: ModelConfig) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}


def _one_model(
    ctx: Ctx,
    entry: _Entry,
    providers: dict[str, ProviderConfig],
    written: set[str],
    referenced: set[str],
) -> ModelConfig | None:
    path = entry.path
    flat = flatten(ctx, entry.body, path, GROUPS, canon)
    r = Reader(ctx, flat, path)
    prov_src = r.pop("provider")
    pid = entry.implied_provider
    if prov_src is not None:
        if not isinstance(prov_src.value, str):
            ctx.error(prov_src.path, "wrong type: expected a provider ID string")
            return None
        if pid is not None and prov_src.value != pid:
            ctx.error(prov_src.path, f"conflicts with the enclosing provider {pid!r}")
            return None
        pid = prov_src.value
    if pid is None:
        ctx.error(join(path, "provider"), "required: the provider ID serving this model")
        return None
    referenced.add(pid)
    if pid not in providers:
        if pid not in written:
            ctx.error(prov_src.path if prov_src else join(path, "provider"),
                      f"undefined provider {pid!r}{close_matches(pid, providers)}")
        return None
    provider = providers[pid]
    key = entry.key or ""
    name_src = r.pop("name")
    if is_prefixed(key, pid):
        if has_upper(key):
            ctx.error(path, f"IDs must be lowercase (R-1): {key!r}")
            return None
        mid = key
        default_name = key.split(".", 1)[1]
    else:
        mid = canonical_model_id(key, pid)
        default_name = key
    if not MODEL_ID_RE.match(mid) or mid.endswith(".") or model_slug(mid) != mid:
        ctx.error(path, f"invalid model ID {mid!r}")
        return None
    name = default_name
    if name_src is not None:
        if isinstance(name_src.value, str) and name_src.value:
            name = name_src.value
        else:
            ctx.error(name_src.path, "wrong type: expected a non-empty string")
    entry_cat = catalogue_entry(provider.connector, name)
    caps_src = r.pop("capabilities")
    caps: tuple[str, ...] = ()
    if caps_src is not None:
        caps = resolve_leaf_list(ctx, caps_src) or ()
    elif provider.capabilities:
        caps = provider.capabilities
    elif entry_cat is not None:
        caps = entry_cat.capabilities
    else:
        ctx.warn(join(path, "capabilities"), "none declared or inferred (R-21); the model "
                                             "joins only pools that list it")
    features: dict[str, bool] = {}
    if entry_cat is not None:
        features.update({f: True for f in entry_cat.features})
    for feat in FEATURES:
        v = r.opt_bool(f"features.{feat}")
        if v is not None:
            features[feat] = v
    pricing = _pricing(r, entry_cat)
    cw = r.number("constraints.context_window", None, lo=1, integer=True)
    mo = r.number("constraints.max_output_tokens", None, lo=1, integer=True)
    cfg = ModelConfig(
        id=mid,
        provider=pid,
        name=name,
        capabilities=caps,
        delivery_synchronous=r.flag("delivery.synchronous", True),
        delivery_streaming=r.flag("delivery.streaming", default_streaming(caps)),
        delivery_batch=r.flag("delivery.batch", False),
        features=features,
        context_window=cw if cw is not None else (entry_cat.context_window if entry_cat else None),
        max_output_tokens=mo if mo is not None else (
            entry_cat.max_output_tokens if entry_cat else None),
        max_images=r.number("constraints.max_images", None, lo=0, integer=True),
        max_file_size=r.size("constraints.max_file_size", None),
        supported_languages=_languages(r),
        pricing=pricing,
        batch=_batch(r),
        source="config",
    )
    r.warn_unknown()
    return cfg


def _add_catalogues(
    ctx: Ctx,
    models: dict[str, ModelConfig],
    providers: dict[str, ProviderConfig],
    referenced: set[str],
) -> None:
    order = 0
    for pid, prov in providers.items():
        info = PROVIDER_CONNECTORS.get(prov.connector)
        if pid in referenced or info is None or info.local:
            continue
        for entry in catalogue_for(prov.connector):
            mid = canonical_model_id(entry.name, pid)
            if mid in models:
                ctx.warn(f"providers.{pid}", f"catalogue model {mid!r} clashes with an existing "
                                             "model ID and is skipped")
                continue
            models[mid] = ModelConfig(
                id=mid,
                provider=pid,
                name=entry.name,
                capabilities=entry.capabilities,
                delivery_streaming=default_streaming(entry.capabilities),
                features={f: True for f in entry.features},
                context_window=entry.context_window,
                max_output_tokens=entry.max_output_tokens,
                pricing=Pricing(*entry.pricing) if entry.pricing else None,
                source="catalogue",
                order=order,
            )
            order += 1


__all__ = ["FEATURES", "default_streaming", "normalise_models"]
