"""The same answers from the interpreted and the mypyc-compiled core.

A compiled core checks argument and field types at every function boundary
(a TypeError of mypyc's own) and types a name by its first assignment. The
public entry points must still raise the errors they document in both
builds; CI runs this file (with the whole suite) against each build."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from meshcore import load_config
from meshcore.actions import Emit
from meshcore.config.schema import ProviderConfig
from meshcore.errors import ConfigurationError
from meshcore.events import ConfigChanged, StateRestored
from meshcore.records import TraceEntry
from meshcore.router.router import Router
from meshcore.testing import simple_config
from meshcore.types import Instant
from meshcore.wire.openai_parse import (
    parse_chat_completion,
    parse_embeddings,
    parse_models,
    parse_transcription,
)
from meshcore.wire.registry import parse_models_response

ROOT = Path(__file__).resolve().parents[2] / "meshcore"
JUNK: tuple[Any, ...] = ([], {}, {"schema": 9}, {"schema": 1, "models": 3}, None, 5, "x")


def _router() -> Router:
    return Router(load_config(simple_config()), seed=1)


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_a_malformed_snapshot_is_traced_not_raised(junk: Any) -> None:
    """fuzz/fuzz_router.py: `StateRestored` with a malformed snapshot must not raise."""
    def traced(actions: list[Any]) -> bool:
        return any(isinstance(a, Emit) and isinstance(a.record, TraceEntry)
                   and "snapshot" in a.record.message for a in actions)

    assert traced(_router().handle(StateRestored(junk), Instant(1.0, 1e9)))
    restored = Router.restore(load_config(simple_config()), junk, seed=1, now=Instant(1.0, 1e9))
    assert traced(restored.restore_actions)


@pytest.mark.parametrize("junk", [[], None, 5, "x", {"providers": 5}], ids=repr)
def test_a_malformed_config_change_raises_configuration_error(junk: Any) -> None:
    """fuzz/fuzz_router.py: a bad `ConfigChanged` raises ConfigurationError (a ValueError)."""
    with pytest.raises(ConfigurationError):
        _router().handle(ConfigChanged(junk), Instant(1.0, 1e9))


_COMPLETION = {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant",
                                                                "content": "hi"}}]}


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        return "ok", repr(fn(*args, **kwargs))
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("value", [_COMPLETION, None, [], "x"], ids=repr)
def test_body_parsers_take_json_text_as_bytes_bytearray_or_str(value: Any) -> None:
    text = json.dumps(value)
    ids = {"response_id": "r", "model_id": "m", "created": 1}
    cases = [
        (parse_chat_completion, ids),
        (parse_embeddings, {"model_id": "m"}),
        (parse_models, {}),
    ]
    for fn, kwargs in cases:
        want = _outcome(fn, text.encode(), **kwargs)
        assert want[0] in ("ok", "ValueError"), (fn, want)
        assert _outcome(fn, bytearray(text.encode()), **kwargs) == want, fn
        assert _outcome(fn, text, **kwargs) == want, fn
        with pytest.raises(TypeError):
            fn(5, **kwargs)
    assert parse_transcription("hello", "text").text == "hello"
    assert parse_transcription(b"hello", "text").text == "hello"
    assert parse_transcription('{"text": "hi"}', "json").text == "hi"


def test_models_response_takes_bytes_only() -> None:
    provider = ProviderConfig(id="p", connector="openai.compatible.v1")
    assert parse_models_response(provider, b'{"data": []}') == []
    with pytest.raises(ValueError):
        parse_models_response(provider, b"[1")
    for wrong in ('{"data": []}', bytearray(b"{}"), None, 5):
        with pytest.raises(TypeError):
            parse_models_response(provider, wrong)  # type: ignore[arg-type]


def _shared_handler_names(tree: ast.AST) -> list[str]:
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            continue
        seen: dict[str, set[str]] = {}
        stack = list(ast.iter_child_nodes(fn))
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                 ast.Lambda)):
                continue
            if isinstance(node, ast.ExceptHandler) and node.name:
                caught = ast.unparse(node.type) if node.type else "BaseException"
                seen.setdefault(node.name, set()).add(caught)
            stack.extend(ast.iter_child_nodes(node))
        out += [f"{getattr(fn, 'name', '<module>')}:{getattr(fn, 'lineno', 0)}: {name}"
                for name, types in seen.items() if len(types) > 1]
    return out


def test_no_exception_name_is_shared_by_handlers_of_different_types() -> None:
    """mypyc types `except A as exc` ... `except B as exc` in one function by
    the first handler and raises TypeError when a B arrives: the core gives
    each handler type its own name."""
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        problems += [f"{path.relative_to(ROOT)}: {p}"
                     for p in _shared_handler_names(ast.parse(path.read_text()))]
    assert problems == []
    bad = "def f():\n try: pass\n except KeyError as e: pass\n except Exception as e: pass\n"
    assert len(_shared_handler_names(ast.parse(bad))) == 1
