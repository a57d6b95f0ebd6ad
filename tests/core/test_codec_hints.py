"""codec.decode reads field types from meshcore/codec_fields.py, so a mypyc build decodes alike.

Compiled with mypyc, a native class's `__annotations__` hold erased runtime
types (`float | None` -> `type`), which `typing.get_type_hints` would hand to
the decoder. The generated table must be current, and equal the pure-Python
type hints.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from meshcore import codec, events
from meshcore._mypyc import is_compiled


def test_codec_fields_is_current() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "gen_codec_fields.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hints_cover_every_field_with_real_types() -> None:
    for name, cls in codec.KNOWN.items():
        hints = codec._hints(cls)
        assert set(hints) == {f.name for f in dataclasses.fields(cls)}, name
        assert type not in hints.values(), name  # mypyc's erased annotation


@pytest.mark.skipif(is_compiled(events), reason="compiled: __annotations__ are erased")
def test_hints_are_typing_get_type_hints_in_pure_python() -> None:
    for name, cls in codec.KNOWN.items():
        assert codec._hints(cls) == typing.get_type_hints(cls), name


def test_optional_and_variadic_tuple_fields_decode() -> None:
    e = events.RequestSubmitted("r1", "chat", codec.KNOWN["RequestFeatures"](), timeout_s=2)
    back = codec.decode(codec.encode(e))
    assert back == e and type(back.timeout_s) is float
