"""Report which build of meshcore Python imports: `pure` (interpreted .py
files) or `compiled` (mypyc C extensions built by setup.py). `--expect MODE`
exits 1 when the build is not MODE (CI runs the test suite in both).

In a compiled build every module outside setup.py's EXCLUDE is an extension
module; this reports how many of meshcore's modules are."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import meshcore
from meshcore._mypyc import build, is_compiled


def modules() -> dict[str, bool]:
    """Every meshcore module name -> whether it was loaded from a C extension."""
    out = {"meshcore": is_compiled(meshcore)}
    for info in pkgutil.walk_packages(meshcore.__path__, "meshcore."):
        out[info.name] = is_compiled(importlib.import_module(info.name))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--expect", choices=("pure", "compiled"))
    args = parser.parse_args()
    mode = build()
    mods = modules()
    print(f"meshcore build: {mode} ({sum(mods.values())} of {len(mods)} modules compiled)"
          f" from {Path(meshcore.__file__ or '').parent}")
    if args.expect and mode != args.expect:
        print(f"expected a {args.expect} build", file=sys.stderr)
        return 1
    if mode == "pure" and any(mods.values()):
        print("a pure build with compiled modules: stale .so files?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
