"""The mypyc build of meshcore (docs/compiled-core.md).

`pip install .` (or building a wheel) compiles meshcore with mypyc into C
extension modules that sit next to the .py files; the .py files are always
shipped too, so any module left out (or a failed build) runs as Python.
The routing core is about three times faster compiled; CI runs the whole
test suite against both builds (.ci/run).

Environment:
  MESHCORE_PURE=1           no compilation: a pure-Python install/wheel.
  MESHCORE_MYPYC=1          compile even for an editable install (by default
                            `pip install -e .` stays pure, see below).
  MESHCORE_MYPYC_STRICT=1   a failed compile is an error instead of falling
                            back to pure Python (for CI jobs that build wheels).
  MYPYC_OPT_LEVEL           passed to mypyc (default 3).

Editable installs: setuptools builds extensions in place for `pip install -e`,
so a compiled `meshcore/x.cpython-311-*.so` would shadow edits to
`meshcore/x.py` until rebuilt. Hence editable installs are pure unless
MESHCORE_MYPYC=1 is set (then rebuild with `python setup.py build_ext
--inplace` after edits, or delete the .so files).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent

# Modules that stay interpreted, and why:
EXCLUDE = {
    # class UnknownPoolError(RoutingError, KeyError): mypyc cannot subclass
    # KeyError (nor RuntimeError etc.) in a native class, and an interpreted
    # class may not derive from the native RoutingError.
    "meshcore/errors.py",
    # class TransitionError(RuntimeError): same builtin-base limitation.
    "meshcore/router/health.py",
    # The classes derive from DataClassJsonMixin, an interpreted class from
    # another package (typed Any here): mypyc builds them as native classes
    # and the import fails ("attribute '__dict__' of 'type' objects is not
    # writable").
    "meshcore/config/schema.py",
    # runtime-checkable Protocols: compiled, they lose their Protocol base.
    "meshcore/router/protocols.py",
    # Frozen dataclasses with ClassVar fields (_KEEP_NONE, _SKIP): the
    # annotations mypyc hands to @dataclass lose the ClassVar, so the ClassVar
    # becomes a field ("non-default argument follows default argument"). Not
    # on the router's path; models_base/models hold their shared base class.
    "meshcore/wire/models.py",
    "meshcore/wire/models_base.py",
    "meshcore/wire/models_chat.py",
    "meshcore/wire/models_other.py",
    # mypyc_attr for the compiler, a no-op at runtime; compiled, its else
    # branch under TYPE_CHECKING would be "unreachable" and raise.
    "meshcore/_mypyc.py",
    # generated table of type expressions for the codec: plain data, read when
    # decoding a log, nothing to gain from compiling it
    "meshcore/codec_fields.py",
}
EXCLUDE |= set(os.environ.get("MESHCORE_MYPYC_EXCLUDE", "").split(",")) - {""}


def _modules() -> list[str]:
    return [
        p.relative_to(ROOT).as_posix()
        for p in sorted((ROOT / "meshcore").rglob("*.py"))
        if p.relative_to(ROOT).as_posix() not in EXCLUDE
    ]


def _editable() -> bool:
    # pip runs the PEP 660 hook for `pip install -e`; setuptools then calls
    # setup.py with the editable_wheel command.
    return "editable_wheel" in sys.argv


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when the C build fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # compiler missing or failing
            if os.environ.get("MESHCORE_MYPYC_STRICT"):
                raise
            print(f"meshcore: C build failed ({exc}); installing pure Python",
                  file=sys.stderr)
            self.extensions = []

    def get_outputs(self) -> list[str]:
        return super().get_outputs() if self.extensions else []


# Commands that compile extensions. Anything else (pip's metadata steps run
# `egg_info`/`dist_info` first, for editable installs too, before the
# `editable_wheel` step that _editable() can see) needs no mypyc run.
_BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "install", "develop", "editable_wheel"}


def _ext_modules() -> list:  # type: ignore[type-arg]
    if os.environ.get("MESHCORE_PURE"):
        return []
    if _editable() and not os.environ.get("MESHCORE_MYPYC"):
        return []
    if not _BUILD_COMMANDS & set(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify

        return mypycify(
            _modules(),
            opt_level=os.environ.get("MYPYC_OPT_LEVEL", "3"),
            # one C file per module: ~2x faster to compile than a single file
            multi_file=True,
            # the shared library is then the top-level module `meshcore_native__mypyc`
            # instead of `<hash>__mypyc` (not "meshcore": its C file would collide
            # with meshcore/__init__.py's)
            group_name="meshcore_native",
        )
    # mypycify reports type errors with sys.exit(1), hence SystemExit
    except (Exception, SystemExit) as exc:  # mypyc missing or rejecting the code
        if os.environ.get("MESHCORE_MYPYC_STRICT"):
            raise
        print(f"meshcore: mypyc unavailable ({exc}); installing pure Python",
              file=sys.stderr)
        return []


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
