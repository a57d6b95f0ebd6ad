"""The namespaces' keyword shortcut changes nothing (issue 4): `_split_pair`
(the common call without further keywords) against `_split` on the same
arguments, for random values and keywords, valid and invalid: equal data
(same keys in the same order, same values) and equal options, or the same
exception type and message."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.namespaces import _split, _split_pair

_VALUES = st.one_of(st.none(), st.text(max_size=4), st.integers(), st.booleans(),
                    st.floats(allow_nan=False), st.lists(st.integers(), max_size=2))
_KEYS = st.sampled_from(["session_id", "timeout", "metadata", "stream", "temperature", "x"])
_PARAMS = st.dictionaries(_KEYS, st.one_of(_VALUES, st.dictionaries(st.text(max_size=2),
                                                                     st.integers(), max_size=2)),
                          max_size=4)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        data, opts = fn(*args)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return list(data.items()), opts, repr(opts)


@settings(max_examples=500, deadline=None)
@given(_VALUES, _VALUES, _PARAMS)
def test_split_pair_equals_split(a: Any, b: Any, params: dict[str, Any]) -> None:
    fast = _outcome(_split_pair, "model", a, "messages", b, dict(params))
    general = _outcome(_split, {"model": a, "messages": b, **params})
    assert fast == general
