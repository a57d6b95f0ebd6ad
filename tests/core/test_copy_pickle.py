"""Events, actions, records and a running Router copy and pickle.

Compiled with mypyc (setup.py), a native class is made by a `__new__` that
runs `__init__`, and a frozen one rejects mypyc's attribute-by-attribute
`__setstate__`; meshcore.frozen and meshcore._mypyc keep copying and
pickling working in both builds. Each golden replay log is run with twins
of the router (a deep copy and a pickle round trip) taken halfway, holding
requests in flight; the twins must decide exactly as the original.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from meshcore.codec import decode, encode
from meshcore.config.schema import MeshConfig
from meshcore.router.router import Router
from meshcore.types import Instant

LOGS = sorted((Path(__file__).resolve().parents[1] / "replay").glob("*.jsonl"))


def _twins(x: Any) -> list[Any]:
    return [copy.copy(x), copy.deepcopy(x), pickle.loads(pickle.dumps(x))]


@pytest.mark.parametrize("path", LOGS, ids=[p.stem for p in LOGS])
def test_values_and_routers_copy_and_pickle(path: Path) -> None:
    head, *lines = path.read_text(encoding="utf-8").splitlines()
    meta = json.loads(head)
    r = Router(MeshConfig.from_dict(meta["config"]), meta["seed"])
    routers = [r]
    half = len(lines) // 2
    for i, raw in enumerate(lines):
        rec = json.loads(raw)
        now = Instant(float(rec["now"][0]), float(rec["now"][1]))
        event = decode(rec["event"])
        assert all(t == event and type(t) is type(event) for t in _twins(event))
        if i == half:
            routers += [copy.deepcopy(r), pickle.loads(pickle.dumps(r))]
        outs = [x.handle(event, now) for x in routers]
        for actions in outs:
            for a in actions:
                assert all(t == a for t in _twins(a)), a
        assert all(encode(o) == encode(outs[0]) for o in outs[1:]), (i, event)
        assert encode(outs[0]) == rec["actions"]
    assert len(routers) == 3
