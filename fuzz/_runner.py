"""The atheris entry point the harnesses in this folder share.

A harness run as a script (`python fuzz/fuzz_sse.py ...`) has this folder on
its import path; `fuzz(one_input)` hands libFuzzer's arguments and the
harness's `one_input` to atheris. With `MODELMESH_FUZZ_INSTRUMENT=1` every
module is instrumented for coverage guidance (slow to start; CI's smoke
runs go without).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def fuzz(one_input: Callable[[bytes], None]) -> None:
    """Run atheris on `one_input` with the command line's libFuzzer arguments."""
    try:
        import atheris
    except ImportError:
        raise SystemExit("atheris is not installed (pip install '.[fuzz]')") from None
    if os.environ.get("MODELMESH_FUZZ_INSTRUMENT") == "1":
        atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
